"""The transformers analyzer on tiny models built in a temp dir (random weights, a WordPiece
tokenizer trained here): nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from sentiflow.analyze.hf import TransformersAnalyzer
from sentiflow.analyze.registry import build_analyzer
from sentiflow.bench.transformers import build_local_model
from sentiflow.errors import ConfigError
from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.settings import Settings

CORPUS = [
    "I love this phone, the battery is great",
    "terrible service, never again",
    "the package arrived on tuesday",
    "why is this so slow?? furious",
    "what a wonderful surprise, thank you",
    "I'm scared the update will break everything",
] * 20

GOEMOTIONS = dict(
    enumerate(
        [
            "admiration",
            "amusement",
            "anger",
            "annoyance",
            "approval",
            "caring",
            "confusion",
            "curiosity",
            "desire",
            "disappointment",
            "disapproval",
            "disgust",
            "embarrassment",
            "excitement",
            "fear",
            "gratitude",
            "grief",
            "joy",
            "love",
            "nervousness",
            "optimism",
            "pride",
            "realization",
            "relief",
            "remorse",
            "sadness",
            "surprise",
            "neutral",
        ]
    )
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {
        "sentiment": build_local_model(
            root / "sentiment", id2label={0: "NEG", 1: "NEU", 2: "POS"}, corpus=CORPUS
        ),
        # RoBERTa numbers positions from padding_idx + 1: a text cut to
        # max_position_embeddings tokens would index past the table and crash.
        "roberta": build_local_model(
            root / "roberta",
            id2label={0: "LABEL_0", 1: "LABEL_1"},
            corpus=CORPUS,
            model_type="roberta",
            max_positions=40,
        ),
        "emotion": build_local_model(
            root / "emotion",
            id2label=GOEMOTIONS,
            corpus=CORPUS,
            problem_type="multi_label_classification",
        ),
        "odd": build_local_model(root / "odd", id2label={0: "meh", 1: "yay"}, corpus=CORPUS),
    }


def make(
    settings: Settings, sentiment: Path, emotion: Path | None, **extra: object
) -> TransformersAnalyzer:
    update = {
        "hf_sentiment_model": str(sentiment),
        "hf_emotion_model": str(emotion) if emotion else "",
        "device": "cpu",
        "hf_batch_size": 4,
        **extra,
    }
    return TransformersAnalyzer(settings.model_copy(update=update))


def test_labels_are_canonical_and_probabilities_sum_to_one(
    settings: Settings, models: dict[str, Path]
) -> None:
    analyzer = build_analyzer(
        "transformers",
        settings.model_copy(
            update={
                "hf_sentiment_model": str(models["sentiment"]),
                "hf_emotion_model": str(models["emotion"]),
                "device": "cpu",
            }
        ),
    )
    results = analyzer.analyze(CORPUS[:6])
    assert len(results) == 6
    for a in results:
        assert a.sentiment in SENTIMENTS and a.emotion in EMOTIONS
        assert set(a.sentiment_probs) == set(SENTIMENTS)
        assert set(a.emotion_probs) == set(EMOTIONS)
        assert sum(a.sentiment_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert sum(a.emotion_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert a.sentiment_confidence == a.sentiment_probs[a.sentiment]
        assert a.polarity == pytest.approx(
            a.sentiment_probs["positive"] - a.sentiment_probs["negative"], abs=1e-3
        )
        assert a.model_version.startswith("transformers:sentiment@")
        assert "+emotion@" in a.model_version


def test_mixed_lengths_batch_matches_one_at_a_time(
    settings: Settings, models: dict[str, Path]
) -> None:
    """Sorting by length and padding must not change any text's answer, nor the order."""
    analyzer = make(settings, models["sentiment"], models["emotion"])
    texts = ["ok", "a much longer text " * 30, "terrible service, never again", "x" * 3000, "hi"]
    batched = analyzer.analyze(texts)
    for text, got in zip(texts, batched, strict=True):
        (alone,) = analyzer.analyze([text])
        for label, p in alone.sentiment_probs.items():
            assert got.sentiment_probs[label] == pytest.approx(p, abs=2e-3)
        for label, p in alone.emotion_probs.items():
            assert got.emotion_probs[label] == pytest.approx(p, abs=2e-3)


@pytest.mark.parametrize("model", ["sentiment", "roberta"])
def test_fifty_thousand_characters_is_truncated_not_a_crash(
    settings: Settings, models: dict[str, Path], model: str
) -> None:
    analyzer = make(settings, models[model], None)
    long = ("this is absolutely wonderful and also dreadful " * 1100)[:50_000]
    assert len(long) == 50_000
    results = analyzer.analyze([long, "short one", long[:500]])
    assert [r.sentiment in SENTIMENTS for r in results] == [True, True, True]


def test_generic_label_names_follow_the_documented_convention(
    settings: Settings, models: dict[str, Path]
) -> None:
    analyzer = make(settings, models["roberta"], None)
    analyzer.load()
    assert analyzer._sentiment is not None
    assert analyzer._sentiment.table == ["negative", "positive"]
    # A 2-class model never says neutral.
    assert all(a.sentiment_probs["neutral"] == 0.0 for a in analyzer.analyze(CORPUS[:6]))


def test_models_load_lazily(settings: Settings, models: dict[str, Path]) -> None:
    analyzer = make(settings, models["sentiment"], None)
    assert analyzer._sentiment is None
    analyzer.analyze(["first batch loads it"])
    assert analyzer._sentiment is not None


def test_unmappable_label_names_the_label_and_the_setting(
    settings: Settings, models: dict[str, Path]
) -> None:
    analyzer = make(settings, models["odd"], None)
    with pytest.raises(ConfigError, match=r"'meh'.*SENTIFLOW_HF_LABEL_MAP"):
        analyzer.analyze(["anything"])
    mapped = make(
        settings, models["odd"], None, hf_label_map={"meh": "negative", "yay": "positive"}
    )
    assert mapped.analyze(["anything"])[0].sentiment in ("negative", "positive")


def test_missing_model_fails_with_what_to_do(settings: Settings, tmp_path: Path) -> None:
    analyzer = make(settings, tmp_path / "nowhere", None)
    with pytest.raises(ConfigError, match="SENTIFLOW_HF_SENTIMENT_MODEL"):
        analyzer.analyze(["x"])


def test_hub_name_not_in_cache_is_not_downloaded(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    analyzer = make(settings, Path("sentiflow-test/not-a-real-model"), None)
    with pytest.raises(ConfigError, match="never downloads"):
        analyzer.analyze(["x"])


def test_cuda_asked_for_without_cuda_is_a_config_error(
    settings: Settings, models: dict[str, Path]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    analyzer = make(settings, models["sentiment"], None, device="cuda")
    with pytest.raises(ConfigError, match="SENTIFLOW_DEVICE"):
        analyzer.analyze(["x"])
