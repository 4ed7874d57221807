"""Retraining from a dataset snapshot: fit a new `builtin-fast` version on the base data plus
the snapshot's human corrections, score it and the current version on held-out base data and
held-out corrections, and promote it only when it is better. The decision and both sets of
scores go into the version's card and `<data dir>/models/builtin-fast/decisions.jsonl`.

Rule: the candidate is promoted when its combined score (mean of base macro-F1 and
corrections accuracy, each averaged over sentiment and emotion) is higher than the current
version's, and it loses no more than `base_tolerance` macro-F1 on the base data, so a model
that learns the corrections by forgetting everything else is rejected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from sentiflow.analyze import versions
from sentiflow.analyze.builtin import NAME, BuiltinFastAnalyzer
from sentiflow.analyze.training import data
from sentiflow.analyze.training.fit import LABELS, FitConfig, Progress
from sentiflow.analyze.training.train import evaluate_loaded, train
from sentiflow.errors import NotFound, ValidationFailed
from sentiflow.feedback.datasets import file_path
from sentiflow.settings import Settings

# Each correction counts as this many base examples: a few dozen corrections must be able
# to move a model fitted on tens of thousands of examples.
CORRECTION_WEIGHT: Final = 5
# One correction in HOLDOUT_EVERY (by a hash of its post id, so stable) is held out.
HOLDOUT_EVERY: Final = 5
BASE_TOLERANCE: Final = 0.02

Rows = dict[str, tuple[list[str], list[str]]]


@dataclass(frozen=True, slots=True)
class Decision:
    candidate: str
    current: str
    promoted: bool
    reason: str
    scores: dict[str, Any]
    directory: Path


def read_corrections(settings: Settings, dataset_id: str) -> list[dict[str, Any]]:
    path = file_path(settings, dataset_id, "jsonl")
    if not path.is_file():
        raise NotFound(
            f"no dataset {dataset_id!r} under {path.parent.parent}; `sentiflow datasets list` "
            "shows the snapshots (a snapshot still building has no files yet)",
            field="dataset",
        )
    with path.open("rb") as handle:
        rows = [orjson.loads(line) for line in handle if line.strip()]
    human = [r for r in rows if r["label_source"] == "human"]
    if not human:
        raise ValidationFailed(f"dataset {dataset_id} holds no corrections", field="dataset")
    return human


def is_holdout(post_id: str) -> bool:
    return (
        int(hashlib.blake2b(post_id.encode(), digest_size=4).hexdigest(), 16) % HOLDOUT_EVERY == 0
    )


def _by_task(rows: list[dict[str, Any]], repeat: int = 1) -> Rows:
    return {
        task: ([r["text"] for r in rows] * repeat, [r[task] for r in rows] * repeat)
        for task in LABELS
    }


def score(
    analyzer: BuiltinFastAnalyzer,
    base: dict[str, dict[str, tuple[list[str], list[str]]]],
    holdout: Rows,
) -> dict[str, Any]:
    """Macro-F1 per task on held-out base data, accuracy per task on held-out corrections."""
    base_scores = evaluate_loaded(analyzer, base, "heldout")
    corrections: dict[str, float] = {}
    for column, (task, classes) in enumerate(LABELS.items()):
        texts, gold = holdout[task]
        if not texts:
            continue
        probs = analyzer.probabilities(texts)[column]
        predicted = [classes[i] for i in probs.argmax(axis=1)]
        corrections[task] = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
    base_f1 = sum(s["macro_f1"] for s in base_scores.values()) / len(base_scores)
    corr = sum(corrections.values()) / len(corrections) if corrections else None
    combined = base_f1 if corr is None else (base_f1 + corr) / 2
    return {
        "version": analyzer.version,
        "base": base_scores,
        "base_macro_f1": round(base_f1, 4),
        "corrections_accuracy": corrections,
        "corrections_mean_accuracy": None if corr is None else round(corr, 4),
        "combined": round(combined, 4),
    }


def decide(
    candidate: dict[str, Any], current: dict[str, Any], tolerance: float
) -> tuple[bool, str]:
    base_drop = current["base_macro_f1"] - candidate["base_macro_f1"]
    if base_drop > tolerance:
        return False, (
            f"base macro-F1 fell by {base_drop:.4f} (more than {tolerance}): "
            f"{candidate['base_macro_f1']:.4f} vs {current['base_macro_f1']:.4f}"
        )
    if candidate["combined"] <= current["combined"]:
        return False, (
            f"combined score {candidate['combined']:.4f} is not above the current "
            f"{current['combined']:.4f}"
        )
    return True, (
        f"combined score {candidate['combined']:.4f} beats {current['combined']:.4f} "
        f"(base macro-F1 {candidate['base_macro_f1']:.4f} vs {current['base_macro_f1']:.4f})"
    )


def retrain(
    settings: Settings,
    *,
    dataset_id: str,
    seed: int = 13,
    limit: int | None = None,
    train_dir: Path | None = None,
    shuffle_labels: bool = False,
    base_tolerance: float = BASE_TOLERANCE,
    config: FitConfig | None = None,
    progress: Progress = lambda _: None,
) -> Decision:
    """Fit, compare with the current version, promote only if better; returns the decision.
    `shuffle_labels` trains on shuffled labels: a control that must be rejected."""
    rows = read_corrections(settings, dataset_id)
    learn = [r for r in rows if not is_holdout(r["id"])]
    held = _by_task([r for r in rows if is_holdout(r["id"])])
    extra = _by_task(learn, CORRECTION_WEIGHT)
    directory, card = train(
        settings_models=versions.models_dir(settings, NAME),
        train_dir=train_dir,
        seed=seed,
        output=None,
        clean_licence=False,
        limit=limit,
        progress=progress,
        config=config,
        extra_train=extra,
        shuffle_labels=shuffle_labels,
    )
    progress("scoring the candidate and the current version")
    # The test split of every base source: no example of it was fitted or calibrated on.
    base: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    for task in data.TASKS:
        texts, labels = data.load(task, "test", train_dir=train_dir)
        base[task] = {"heldout": (texts[:limit], labels[:limit])}
    current_version = versions.current(settings, NAME)
    candidate_scores = score(BuiltinFastAnalyzer(directory), base, held)
    current_scores = score(BuiltinFastAnalyzer(current_version.path), base, held)
    promoted, reason = decide(candidate_scores, current_scores, base_tolerance)
    record = {
        "dataset": dataset_id,
        "corrections": {
            "train": len(learn),
            "heldout": len(rows) - len(learn),
            "weight": CORRECTION_WEIGHT,
        },
        "shuffled_labels": shuffle_labels,
        "against": current_version.version,
        "promoted": promoted,
        "reason": reason,
        "candidate": candidate_scores,
        "current": current_scores,
    }
    card["promotion"] = record
    (directory / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    log_path = versions.models_dir(settings, NAME) / "decisions.jsonl"
    with log_path.open("ab") as handle:
        handle.write(orjson.dumps({"version": card["version"], **record}) + b"\n")
    if promoted:
        versions.promote(settings, NAME, card["version"])
    return Decision(
        candidate=card["version"],
        current=current_version.version,
        promoted=promoted,
        reason=reason,
        scores={"candidate": candidate_scores, "current": current_scores},
        directory=directory,
    )
