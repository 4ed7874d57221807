"""`sentiflow evaluate --data FILE --label-column C` and `--stored --source S`: every installed
tier and VADER scored side by side on a team's own labelled data, so a team can choose a model
on its posts in one command. The labels come from a CSV, JSONL or Parquet column (mapped with
a label map) or from stored posts' human labels (corrections, else their file's label).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from sentiflow.analyze.base import Analyzer
from sentiflow.analyze.evaluate import evaluate
from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import ConfigError, ValidationFailed
from sentiflow.ingest.files import ColumnMap, FileReader
from sentiflow.ingest.labelmap import LabelMap
from sentiflow.models import normalize_text
from sentiflow.settings import Settings

# VADER: the baseline every tier is shown beside.
BASELINE: Final = "lexicon"
# The offline tiers, in order of cost; a tier whose packages are missing is left out.
TIERS: Final[dict[str, tuple[str, ...]]] = {
    "builtin-fast": (),
    "builtin-accurate": ("onnxruntime", "tokenizers"),
}


def installed_tiers() -> list[str]:
    return [
        name
        for name, needs in TIERS.items()
        if all(importlib.util.find_spec(module) is not None for module in needs)
    ]


def read_file_labels(
    path: Path, fmt: str, *, text_column: str, label_column: str, label_map: LabelMap
) -> tuple[list[dict[str, str]], int]:
    """(rows with `text` and `sentiment`, rows skipped for an empty text or label). A label
    the map does not know stops the run, naming the line: the scores would be wrong."""
    if not path.is_file():
        raise ValidationFailed(f"no such evaluation file: {path}", field="data")
    reader = FileReader(path, fmt, ColumnMap(text=text_column, label=label_column, drop_extra=True))
    rows: list[dict[str, str]] = []
    skipped = 0
    for record in reader:
        if record.post is None:
            raise ValidationFailed(f"{path.name}:{record.line}: {record.error}", field="data")
        text = normalize_text(str(record.post.get("text") or ""))
        try:
            label = label_map.sentiment(record.label)
        except ValueError as exc:
            raise ValidationFailed(
                f"{path.name}:{record.line}: {label_column} {exc}", field="label_map"
            ) from None
        if not text or label is None:
            skipped += 1
            continue
        rows.append({"text": text, "sentiment": label})
    if not rows:
        raise ValidationFailed(
            f"{path.name} holds no row with both a text ({text_column}) and a label "
            f"({label_column})",
            field="data",
        )
    return rows, skipped


def stored_rows(pairs: Sequence[tuple[str, str]], source: str) -> list[dict[str, str]]:
    if not pairs:
        raise ValidationFailed(
            f"no stored post of source {source!r} has a human label; import one with "
            "`sentiflow import FILE --label-column …` or correct some in the review queue",
            field="source",
        )
    return [{"text": text, "sentiment": sentiment} for text, sentiment in pairs]


def analyzers(settings: Settings, names: Sequence[str]) -> list[Analyzer]:
    """Each named analyzer, VADER last (once), built now so a missing one fails before any
    scoring starts."""
    chosen = [*dict.fromkeys([*names, BASELINE])]
    built = []
    for name in chosen:
        try:
            built.append(build_analyzer(name, settings))
        except ImportError as exc:
            raise ConfigError(f"analyzer {name!r} cannot load ({exc}); leave it out") from exc
    return built


def compare(
    models: Sequence[Analyzer],
    rows: list[dict[str, str]],
    *,
    advance: Callable[[int], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """`evaluate` for each analyzer on the same rows, in order."""
    return [evaluate(model, rows, advance=advance) for model in models]
