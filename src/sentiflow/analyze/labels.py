"""Label names from any model mapped onto sentiflow's canonical sets, in this one place.

Every backend that reads labels it did not choose (transformers models, LLM answers) goes
through `canonical_label` / `label_table`, so "NEG", "LABEL_0", "1 star" and "annoyance" all
become the same canonical `negative` / `anger` everywhere.

Convention for models whose config has only generic names (LABEL_0, LABEL_1, …): sentiment
models are read in the order most published checkpoints use — 2 classes: negative, positive
(SST-2); 3 classes: negative, neutral, positive (TweetEval / cardiffnlp); 5 classes: 1 to 5
stars. An emotion model with generic names cannot be read this way: give its config an
`id2label` or map the names with SENTIFLOW_HF_LABEL_MAP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from sentiflow.errors import ConfigError
from sentiflow.models import EMOTIONS, SENTIMENTS

Task = Literal["sentiment", "emotion"]

SENTIMENT_NAMES: Final[dict[str, str]] = {
    "negative": "negative",
    "neg": "negative",
    "very negative": "negative",
    "bad": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "mixed": "neutral",
    "positive": "positive",
    "pos": "positive",
    "very positive": "positive",
    "good": "positive",
}

# GoEmotions' 27 emotions grouped as in the paper's Ekman mapping, plus the names other
# emotion datasets use (TweetEval, dair-ai/emotion, ISEAR, Plutchik's wheel).
EMOTION_NAMES: Final[dict[str, str]] = {
    **dict.fromkeys(["anger", "angry", "annoyance", "disapproval", "rage", "hate"], "anger"),
    **dict.fromkeys(["disgust", "disgusted"], "disgust"),
    **dict.fromkeys(["fear", "afraid", "scared", "nervousness", "worry", "anxiety"], "fear"),
    **dict.fromkeys(
        [
            "joy",
            "happy",
            "happiness",
            "amusement",
            "approval",
            "excitement",
            "gratitude",
            "love",
            "optimism",
            "relief",
            "pride",
            "admiration",
            "desire",
            "caring",
            "trust",
            "fun",
            "enthusiasm",
        ],
        "joy",
    ),
    **dict.fromkeys(
        [
            "sadness",
            "sad",
            "disappointment",
            "embarrassment",
            "grief",
            "remorse",
            "shame",
            "guilt",
            "boredom",
            "empty",
        ],
        "sadness",
    ),
    **dict.fromkeys(
        ["surprise", "surprised", "realization", "confusion", "curiosity", "anticipation"],
        "surprise",
    ),
    **dict.fromkeys(["neutral", "none", "no emotion", "others", "other"], "neutral"),
}

_STARS = re.compile(r"^([1-5])\s*stars?$")
_GENERIC = re.compile(r"^label_(\d+)$")
_GENERIC_SENTIMENT: Final[dict[int, tuple[str, ...]]] = {
    2: ("negative", "positive"),
    3: ("negative", "neutral", "positive"),
    5: ("negative", "negative", "neutral", "positive", "positive"),
}


def _key(label: str) -> str:
    return re.sub(r"[\s_\-]+", " ", label.strip().lower())


def _sentiment_name(key: str, n_labels: int) -> str | None:
    """A sentiment label by one of its other names, star rating or generic LABEL_k index."""
    if key in SENTIMENT_NAMES:
        return SENTIMENT_NAMES[key]
    if stars := _STARS.match(key):
        return _GENERIC_SENTIMENT[5][int(stars.group(1)) - 1]
    if generic := _GENERIC.match(key.replace(" ", "_")):
        order = _GENERIC_SENTIMENT.get(n_labels)
        index = int(generic.group(1))
        if order is not None and index < len(order):
            return order[index]
    return None


def canonical_label(
    label: str, task: Task, *, overrides: Mapping[str, str] | None = None, n_labels: int = 0
) -> str:
    """The canonical name of one model label, or ConfigError naming it and the way out.

    `n_labels` is the size of the model's label set, needed only for generic LABEL_k names.
    """
    canon = SENTIMENTS if task == "sentiment" else EMOTIONS
    key = _key(label)
    if overrides:
        mapped = {_key(k): v for k, v in overrides.items()}.get(key)
        if mapped is not None:
            if mapped not in canon:
                raise ConfigError(
                    f"SENTIFLOW_HF_LABEL_MAP maps {label!r} to {mapped!r}, which is not one of "
                    f"the {task} labels; use one of: {', '.join(canon)}"
                )
            return mapped
    if key in canon:
        return key
    found = _sentiment_name(key, n_labels) if task == "sentiment" else EMOTION_NAMES.get(key)
    if found is not None:
        return found
    raise ConfigError(
        f"cannot map the model's {task} label {label!r} onto sentiflow's labels "
        f"({', '.join(canon)}); name it in the model config's id2label or set "
        f'SENTIFLOW_HF_LABEL_MAP, e.g. \'{{"{label}": "{canon[0]}"}}\'',
        field="label",
    )


def label_table(
    id2label: Mapping[int, str], task: Task, *, overrides: Mapping[str, str] | None = None
) -> list[str]:
    """Canonical label per output index of a classifier (every label checked up front)."""
    n = len(id2label)
    return [canonical_label(id2label[i], task, overrides=overrides, n_labels=n) for i in range(n)]


def fold_probs(probs: Sequence[float], table: Sequence[str], task: Task) -> dict[str, float]:
    """Per-label probabilities of a model summed into canonical labels, summing to 1.

    Several model labels can land on one canonical label (optimism and love are both joy);
    multi-label models (sigmoid outputs) do not sum to 1, hence the renormalisation.
    """
    canon = SENTIMENTS if task == "sentiment" else EMOTIONS
    folded: dict[str, float] = dict.fromkeys(canon, 0.0)
    for label, p in zip(table, probs, strict=True):
        folded[label] += float(p)
    total = sum(folded.values()) or 1.0
    return {label: round(p / total, 4) for label, p in folded.items()}
