"""The canonical records every stage shares: `PostIn` (what comes in) and `Analysis` (what a
model says about it), plus the label sets, the post id derived from the dedup key, and the
stored `Alert`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypedDict

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Sentiment = Literal["negative", "neutral", "positive"]
Emotion = Literal["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
SENTIMENTS: Final[tuple[Sentiment, ...]] = ("negative", "neutral", "positive")
EMOTIONS: Final[tuple[Emotion, ...]] = (
    "anger",
    "disgust",
    "fear",
    "joy",
    "sadness",
    "surprise",
    "neutral",
)
MAX_TEXT: Final = 10_000
MAX_META_BYTES: Final = 4_096

# Every ISO 639-1 code: what a post's `lang` may be.
_ISO_639_1: Final = """aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu
    hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb
    lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om
    or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
    ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"""
ISO_639_1: Final = frozenset(_ISO_639_1.split())

# C0/C1 control characters except tab and newline, which are kept as whitespace.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normalize_text(text: str) -> str:
    """Unicode NFC, control characters removed, outer whitespace stripped."""
    text = unicodedata.normalize("NFC", text)
    # A printable text has no control character, and the scan in C is cheaper than the regex.
    if not text.isprintable():
        text = _CONTROL.sub("", text)
    return text.strip()


def content_key(text: str) -> str:
    """The stand-in external id of a post that has none: a hash of its normalised text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def post_id(source: str, external_id: str) -> str:
    """A post's id is a function of its dedup key, so a re-sent post maps onto the same row."""
    return hashlib.blake2b(f"{source}\x00{external_id}".encode(), digest_size=12).hexdigest()


_POST_ID: Final = re.compile(r"[0-9a-f]{24}")


def could_be_post_id(value: str) -> bool:
    """Whether `value` has the shape of a `post_id` (24 lowercase hex digits)."""
    return len(value) == 24 and _POST_ID.fullmatch(value) is not None


# The dates a post may carry: a clock a little ahead is fine, a post from the far future (or
# from before social media) is a mistake, and its value would skew every time-based read.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK: Final = timedelta(days=1)


def check_created_at(value: datetime) -> datetime:
    """`value` (aware) if it lies in the sane window, else a ValueError that says what to send."""
    if value < EARLIEST:
        raise ValueError(
            f"{value.isoformat()} is before {EARLIEST.year}; send the post's real date (UTC)"
        )
    if value > datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError(
            f"{value.isoformat()} is more than a day in the future; send the post's real date "
            "(UTC), or leave created_at out for now"
        )
    return value


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one (SQLite hands them back so) is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A datetime the API shows: always with its offset, as RFC 3339's date-time requires.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


# Outer whitespace stripped in pydantic-core, before the length limits apply.
Stripped = Annotated[str, StringConstraints(strip_whitespace=True)]


class PostIn(BaseModel):
    """One post as every source produces it. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Stripped = Field(min_length=1, max_length=100, description="Where the post came from.")
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The source's own id; the dedup key with `source`. Default: a content hash.",
    )
    text: str = Field(description="1 to 10,000 characters after normalisation.")
    author: Stripped | None = Field(None, max_length=200)
    created_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC), description="ISO 8601; default now."
    )
    url: str | None = Field(None, max_length=2_000)
    topic: Stripped | None = Field(None, max_length=100)
    meta: dict[str, Any] = Field(default_factory=dict, description="Small JSON object (≤ 4 KB).")
    lang: str | None = Field(
        None,
        description="The text's language, an ISO 639-1 code (`en`, `es`); default: identified "
        "by the worker.",
    )

    @field_validator("text")
    @classmethod
    def _normalize(cls, value: str) -> str:
        value = normalize_text(value)
        if not value:
            raise ValueError("text is empty after normalisation; send 1 to 10,000 characters")
        if len(value) > MAX_TEXT:
            raise ValueError(
                f"text has {len(value):,} characters; the limit is {MAX_TEXT:,}: split or shorten it"
            )
        return value

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return check_created_at(value)

    @field_validator("meta")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and len(orjson.dumps(value)) > MAX_META_BYTES:
            raise ValueError(f"meta is larger than {MAX_META_BYTES} bytes of JSON; keep it small")
        return value

    @field_validator("lang")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().lower()
        if code not in ISO_639_1:
            raise ValueError(
                f"{value!r} is not an ISO 639-1 language code; send two letters such as 'en' or "
                "'es', or leave lang out to have it identified"
            )
        return code

    @classmethod
    def trusted(cls, fields: dict[str, Any]) -> PostIn:
        """A post from fields that were validated when it came in (a queue payload): no
        validator runs again. Takes `fields` over; with its `id` (as `payload` writes it) it
        skips most of what `model_construct` does, which matters once per post."""
        # Queued by a sentiflow that had no `lang` field.
        fields.setdefault("lang", None)
        if "id" not in fields:
            return cls.model_construct(**fields)
        post = cls.__new__(cls)
        _set(post, "__dict__", fields)
        # One set shared by every trusted post: a frozen model never adds to it, and copies
        # (model_copy) copy it first.
        _set(post, "__pydantic_fields_set__", _ALL_FIELDS_SET)
        _set(post, "__pydantic_extra__", None)
        _set(post, "__pydantic_private__", None)
        return post

    def payload(self) -> dict[str, Any]:
        """Its fields and its id, as `trusted` takes them back (a queue payload; datetimes
        stay datetimes for the encoder)."""
        fields = self.__dict__.copy()
        fields.pop("dedup_key", None)  # cached beside the fields, not sent
        if "id" not in fields:
            fields["id"] = self.id
        return fields

    # Both are computed once and kept in the instance's __dict__, as functools.cached_property
    # would, but without the lock that cached_property takes on each first access in Python
    # 3.11, which would dominate their cost, paid for every post by ingest and by the worker.
    @property
    def dedup_key(self) -> tuple[str, str]:
        values = self.__dict__
        key: tuple[str, str] | None = values.get("dedup_key")
        if key is None:
            key = values["dedup_key"] = (self.source, self.external_id or content_key(self.text))
        return key

    @property
    def id(self) -> str:
        values = self.__dict__
        pid: str | None = values.get("id")
        if pid is None:
            pid = values["id"] = post_id(*self.dedup_key)
        return pid


_set = object.__setattr__
_FIELD_NAMES: Final = tuple(PostIn.model_fields)
_ALL_FIELDS_SET: Final = set(_FIELD_NAMES)


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one model says about one text. Probabilities are keyed by canonical label."""

    sentiment: Sentiment
    sentiment_confidence: float
    sentiment_probs: dict[str, float]
    polarity: float
    emotion: Emotion
    emotion_confidence: float
    emotion_probs: dict[str, float]
    model_version: str
    analyzed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The text's language (ISO 639-1) as given or identified; None when unknown.
    lang: str | None = None

    def __reduce__(self) -> tuple[type[Analysis], tuple[Any, ...]]:
        # Analyses come back from analyzer processes pickled. A slots dataclass unpickles
        # through a __setstate__ that calls fields() per object; through the constructor both
        # pickling and unpickling are much cheaper.
        return Analysis, (
            self.sentiment,
            self.sentiment_confidence,
            self.sentiment_probs,
            self.polarity,
            self.emotion,
            self.emotion_confidence,
            self.emotion_probs,
            self.model_version,
            self.analyzed_at,
            self.lang,
        )

    @classmethod
    def from_probs(
        cls,
        sentiment_probs: dict[str, float],
        emotion_probs: dict[str, float],
        *,
        model_version: str,
        analyzed_at: datetime,
    ) -> Analysis:
        """The analysis of a model that gives probabilities: the most likely label of each
        task, its probability as the confidence, and polarity P(positive) - P(negative)."""
        sentiment, sentiment_confidence = argmax_label(sentiment_probs)
        emotion, emotion_confidence = argmax_label(emotion_probs)
        return cls(
            sentiment=sentiment,  # type: ignore[arg-type]
            sentiment_confidence=sentiment_confidence,
            sentiment_probs=sentiment_probs,
            polarity=round(sentiment_probs["positive"] - sentiment_probs["negative"], 4),
            emotion=emotion,  # type: ignore[arg-type]
            emotion_confidence=emotion_confidence,
            emotion_probs=emotion_probs,
            model_version=model_version,
            analyzed_at=analyzed_at,
        )


def argmax_label(probs: dict[str, float]) -> tuple[str, float]:
    label = max(probs, key=probs.__getitem__)
    return label, probs[label]


class Labels(BaseModel):
    """What a model says about a text, as the API shows it."""

    sentiment: Sentiment
    sentiment_confidence: float
    sentiment_probs: dict[str, float]
    polarity: float
    emotion: Emotion
    emotion_confidence: float
    emotion_probs: dict[str, float]
    model_version: str


class AnalysisOut(Labels):
    """A stored post's analysis as the API shows it."""

    analyzed_at: datetime


class LabelOut(BaseModel):
    """The label a post counts under: a human's latest correction, else the model's."""

    sentiment: Sentiment
    emotion: Emotion
    source: Literal["model", "human"]
    corrected_by: str | None = None
    corrected_at: datetime | None = None


class PostOut(BaseModel):
    """A stored post with its analysis (None until a worker has analysed it) and its
    effective label (`label`, which differs from the analysis once a human corrected it)."""

    id: str
    source: str
    external_id: str
    text: str
    author: str | None
    created_at: datetime
    url: str | None
    topic: str | None
    meta: dict[str, Any]
    # ISO 639-1, as sent or identified; None when it could not be told.
    lang: str | None = None
    ingested_at: datetime
    handled_at: datetime | None = None
    # The earlier post whose text this one nearly copies (a retweet, a copy); None if none.
    duplicate_of: str | None = None
    analysis: AnalysisOut | None
    label: LabelOut | None = None


class Alert(TypedDict):
    """A stored spike alert, as the API lists it and the live feed shows it (plain JSON)."""

    id: int
    kind: str
    source: str
    topic: str | None
    window_start: str
    window_end: str
    value: float
    baseline_mean: float
    baseline_std: float
    k: float
    evidence: dict[str, Any]
    created_at: str
