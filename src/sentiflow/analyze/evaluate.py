"""`sentiflow evaluate`: score an analyzer on a labelled JSONL file (optionally gzip) and record
the result under `<data dir>/models/evaluations.jsonl`, which `sentiflow models` lists.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from sentiflow.analyze import language
from sentiflow.analyze.base import Analyzer, analyze_in, reads_language
from sentiflow.analyze.training.metrics import classification_report
from sentiflow.errors import ValidationFailed
from sentiflow.models import EMOTIONS, SENTIMENTS, normalize_text
from sentiflow.settings import Settings

TASKS: dict[str, tuple[str, ...]] = {"sentiment": SENTIMENTS, "emotion": EMOTIONS}


def read_labelled(path: Path) -> list[dict[str, str]]:
    """Rows with `text` and at least one of `sentiment` / `emotion`, labels checked."""
    if not path.is_file():
        raise ValidationFailed(f"no such evaluation file: {path}", field="data")
    opener = gzip.open if path.name.endswith(".gz") else open
    rows: list[dict[str, str]] = []
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                rows.append(_labelled_row(line, f"{path}:{number}"))
    if not rows:
        raise ValidationFailed(f"{path} holds no labelled rows", field="data")
    return rows


def _labelled_row(line: bytes, where: str) -> dict[str, str]:
    """One line of the file as a row; `where` (file:line) names it in errors."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValidationFailed(f"{where} is not JSON", field="data") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise ValidationFailed(f"{where} has no string 'text'", field="text")
    row = {"text": normalize_text(obj["text"]) or " "}
    for task, labels in TASKS.items():
        value = obj.get(task)
        if value is None:
            continue
        if value not in labels:
            raise ValidationFailed(
                f"{where}: {task} {value!r} is not one of {', '.join(labels)}", field=task
            )
        row[task] = value
    if len(row) == 1:
        raise ValidationFailed(f"{where} has neither 'sentiment' nor 'emotion'", field="data")
    return row


def evaluate(
    analyzer: Analyzer,
    rows: list[dict[str, str]],
    *,
    batch_size: int = 1_000,
    advance: Callable[[int], None] = lambda _: None,
) -> dict[str, Any]:
    """Per task present in the rows: n, accuracy, macro-F1, macro-recall, confusion matrix."""
    predicted: dict[str, list[str]] = {task: [] for task in TASKS}
    version = analyzer.version
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        texts = [row["text"] for row in chunk]
        # Each text's language, as a worker identifies it, for a model that reads it.
        langs = language.identify(texts) if reads_language(analyzer) else None
        for analysis in analyze_in(analyzer, texts, langs):
            predicted["sentiment"].append(analysis.sentiment)
            predicted["emotion"].append(analysis.emotion)
            version = analysis.model_version
        advance(len(chunk))
    tasks: dict[str, Any] = {}
    for task, labels in TASKS.items():
        pairs = [(row[task], predicted[task][i]) for i, row in enumerate(rows) if task in row]
        if pairs:
            gold, guess = zip(*pairs, strict=True)
            tasks[task] = classification_report(gold, guess, labels)
    return {"model": analyzer.name, "version": version, "tasks": tasks}


def record(settings: Settings, result: dict[str, Any], data: Path) -> Path:
    """Append a summary of the run to the evaluation log `sentiflow models` reads."""
    log = settings.data_dir / "models" / "evaluations.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "model": result["model"],
        "version": result["version"],
        "data": data.name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scores": {
            task: {k: report[k] for k in ("n", "accuracy", "macro_f1", "macro_recall")}
            for task, report in result["tasks"].items()
        },
    }
    with log.open("ab") as handle:
        handle.write(orjson.dumps(entry) + b"\n")
    return log


def recorded(settings: Settings) -> list[dict[str, Any]]:
    """The latest recorded evaluation per (model, version, data file)."""
    log = settings.data_dir / "models" / "evaluations.jsonl"
    if not log.is_file():
        return []
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in log.read_bytes().splitlines():
        try:
            entry = orjson.loads(line)
            latest[(entry["model"], entry["version"], entry["data"])] = entry
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # a torn last line from a killed run; the rest still counts
    return list(latest.values())
