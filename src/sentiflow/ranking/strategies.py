"""The built-in strategies: `urgency`, `calm`, `trending`, `fresh-entities` and `chronological`.

Each `doc` is the contract its tests check and docs/ranking.md repeats: change both together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sentiflow.errors import ValidationFailed
from sentiflow.models import Analysis
from sentiflow.ranking.base import RankItem, Signals
from sentiflow.ranking.terms import entities, terms


def option(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValidationFailed(
            f"options.{name} must be a non-negative number, not {value!r}",
            field=f"options.{name}",
        )
    return float(value)


class Urgency:
    name = "urgency"
    doc = (
        "0.5 × negativity + 0.3 × (P(anger) + P(fear)) + 0.2 × recency, where negativity is "
        "P(negative) × sentiment confidence for posts labelled negative (0 otherwise) and "
        "recency is 0.5^(age / half_life_h) (option, default 6 h; 0 without created_at). "
        "Confident, angry or frightened complaints from the last hours come first."
    )
    uses_analyses = True
    uses_signals = False
    on_loop = True  # one linear pass, no I/O

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]:
        half_life_s = option(options, "half_life_h", 6.0) * 3600 or 1.0
        now = datetime.now(UTC)
        scores: list[float] = []
        append = scores.append  # this loop runs for every post of every feed: kept tight
        for item, a in zip(items, analyses, strict=True):
            assert a is not None, "the engine scores only analysed items"
            negativity = 0.0
            if a.sentiment == "negative":
                negativity = a.sentiment_probs.get("negative", 0.0) * a.sentiment_confidence
            emotion = a.emotion_probs
            arousal = emotion.get("anger", 0.0) + emotion.get("fear", 0.0)
            if arousal > 1.0:
                arousal = 1.0
            recency = 0.0
            if item.created_at is not None:
                age = (now - item.created_at).total_seconds()
                recency = 0.5 ** (age / half_life_s) if age > 0.0 else 1.0
            append(0.5 * negativity + 0.3 * arousal + 0.2 * recency)
        return scores


# Emotions that make a feed hostile, and those that only do so in a negative post.
HOSTILE: Final = ("anger", "disgust")
AROUSED: Final = ("fear", "surprise")


class Calm:
    name = "calm"
    doc = (
        "0 for most posts, so they keep the feed's order. Minus (1 + emotion confidence) for "
        "posts whose emotion is anger or disgust with confidence ≥ min_confidence (option, "
        "default 0.4); minus the sentiment confidence for negative posts whose emotion is fear "
        "or surprise (high-arousal negativity). Demoted posts go after the others, the most "
        "hostile last, each group in feed order."
    )
    uses_analyses = True
    uses_signals = False
    on_loop = True  # one linear pass, no I/O

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]:
        floor = option(options, "min_confidence", 0.4)
        scores = []
        for a in analyses:
            assert a is not None, "the engine scores only analysed items"
            penalty = 0.0
            if a.emotion in HOSTILE and a.emotion_confidence >= floor:
                penalty = 1.0 + a.emotion_confidence
            elif a.sentiment == "negative" and a.emotion in AROUSED:
                penalty = a.sentiment_confidence
            scores.append(-penalty)
        return scores


class Trending:
    name = "trending"
    doc = (
        "The sum of the weights (0..1, the strongest trend is 1) of the trending keywords and "
        "entities the post mentions, from the background signals of `window` (option, seconds; "
        "default the shortest window). Option `mood`: 'negative' or 'positive' counts only terms "
        "whose posts lean that way. Posts that mention no trend score 0 and keep the feed's "
        "order. Reads no analysis and no database: only the signals."
    )
    uses_analyses = False
    uses_signals = True
    on_loop = True  # one linear pass, no I/O

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]:
        window = options.get("window")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
            raise ValidationFailed("options.window must be whole seconds", field="options.window")
        mood = options.get("mood", "any")
        if mood not in ("any", "negative", "positive"):
            raise ValidationFailed(
                f"options.mood must be any, negative or positive, not {mood!r}",
                field="options.mood",
            )
        if signals is None:
            return [0.0] * len(items)
        weights = {
            t.term: t.weight
            for t in signals.terms(window)
            if mood == "any" or (t.polarity != 0 and (t.polarity < 0) == (mood == "negative"))
        }
        return [sum(weights.get(term, 0.0) for term in terms(item.text)) for item in items]


class FreshEntities:
    name = "fresh-entities"
    doc = (
        "0 for posts that mention none of the named entities common across recent posts "
        "(proper-noun phrases, #hashtags, @handles, $cashtags, from the background signals), "
        "so they come first in feed order; minus the weights (0..1, the most mentioned entity "
        "is 1) of the common entities a post mentions, so the most worn topics go last. "
        "Reads no analysis and no database: only the signals."
    )
    uses_analyses = False
    uses_signals = True
    on_loop = True  # one linear pass, no I/O

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]:
        if signals is None or not signals.entities:
            return [0.0] * len(items)
        weights = {t.term: t.weight for t in signals.entities}
        # A common entity is found by its words too: "Apple" opening a sentence is no name
        # to `entities`, but the keyword "apple" of `terms`.
        return [
            -sum(weights.get(term, 0.0) for term in terms(item.text) | entities(item.text))
            for item in items
        ]


class Chronological:
    name = "chronological"
    doc = (
        "The post's created_at as Unix seconds: newest first. Posts without created_at score 0, "
        "so they follow the dated ones in feed order. The baseline the others are compared to."
    )
    uses_analyses = False
    uses_signals = False
    on_loop = True  # one linear pass, no I/O

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]:
        return [item.created_at.timestamp() if item.created_at else 0.0 for item in items]
