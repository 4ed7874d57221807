"""Label names from many models onto the canonical sets, and the error for the rest."""

from __future__ import annotations

import pytest

from sentiflow.analyze.labels import canonical_label, fold_probs, label_table
from sentiflow.errors import ConfigError


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("NEG", "negative"),
        ("Neutral", "neutral"),
        ("POSITIVE", "positive"),
        ("pos", "positive"),
        ("1 star", "negative"),
        ("2 stars", "negative"),
        ("3 stars", "neutral"),
        ("5 stars", "positive"),
        ("very_negative", "negative"),
    ],
)
def test_sentiment_names(label: str, expected: str) -> None:
    assert canonical_label(label, "sentiment") == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("joy", "joy"),
        ("optimism", "joy"),
        ("love", "joy"),
        ("annoyance", "anger"),
        ("Anger", "anger"),
        ("nervousness", "fear"),
        ("grief", "sadness"),
        ("curiosity", "surprise"),
        ("disgust", "disgust"),
        ("neutral", "neutral"),
    ],
)
def test_emotion_names(label: str, expected: str) -> None:
    assert canonical_label(label, "emotion") == expected


def test_generic_names_follow_the_class_count() -> None:
    assert label_table({0: "LABEL_0", 1: "LABEL_1"}, "sentiment") == ["negative", "positive"]
    assert label_table({i: f"LABEL_{i}" for i in range(3)}, "sentiment") == [
        "negative",
        "neutral",
        "positive",
    ]
    stars = label_table({i: f"LABEL_{i}" for i in range(5)}, "sentiment")
    assert stars == ["negative", "negative", "neutral", "positive", "positive"]


def test_generic_names_of_an_emotion_model_are_an_error() -> None:
    with pytest.raises(ConfigError, match=r"'LABEL_0'.*id2label.*SENTIFLOW_HF_LABEL_MAP"):
        label_table({i: f"LABEL_{i}" for i in range(7)}, "emotion")


def test_overrides_win_and_are_checked() -> None:
    assert canonical_label("anticipation", "emotion", overrides={"anticipation": "joy"}) == "joy"
    with pytest.raises(ConfigError, match="not one of the emotion labels"):
        canonical_label("anticipation", "emotion", overrides={"anticipation": "hope"})
    with pytest.raises(ConfigError, match="'sarcasm'"):
        canonical_label("sarcasm", "sentiment")


def test_fold_sums_labels_that_share_a_canonical_name() -> None:
    table = label_table({0: "joy", 1: "optimism", 2: "anger", 3: "sadness"}, "emotion")
    folded = fold_probs([0.2, 0.3, 0.4, 0.1], table, "emotion")
    assert folded["joy"] == pytest.approx(0.5)
    assert folded["anger"] == pytest.approx(0.4)
    assert folded["fear"] == 0.0
    # Multi-label (sigmoid) scores are renormalised.
    assert sum(fold_probs([0.9, 0.9, 0.9, 0.9], table, "emotion").values()) == pytest.approx(1.0)
