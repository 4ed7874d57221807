"""`sentiflow analyze`: texts or a JSONL/plain-text file in, one JSON line per input out."""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.progress import Progress

from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import ValidationFailed
from sentiflow.models import normalize_text
from sentiflow.settings import Settings


def _items(lines: Iterator[str]) -> Iterator[tuple[Any, str]]:
    """(id, text) per line: a JSON object with `text` (and `id`), or the line as plain text."""
    for number, line in enumerate(lines, start=1):
        stripped = line.rstrip("\n")
        if stripped.lstrip().startswith("{"):
            try:
                obj = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                raise ValidationFailed(
                    f"line {number} starts like JSON but does not parse; fix it or send plain text",
                    field="input",
                ) from None
            if not isinstance(obj.get("text"), str):
                raise ValidationFailed(f"line {number} has no string 'text' field", field="text")
            yield obj.get("id", number), obj["text"]
        else:
            yield number, stripped


def _record(item_id: Any, analysis: Any) -> bytes:
    return orjson.dumps(
        {
            "id": item_id,
            "sentiment": analysis.sentiment,
            "sentiment_confidence": analysis.sentiment_confidence,
            "emotion": analysis.emotion,
            "emotion_confidence": analysis.emotion_confidence,
            "polarity": analysis.polarity,
            "model_version": analysis.model_version,
        }
    )


def analyze_stream(
    settings: Settings,
    *,
    texts: list[str],
    input_file: str | None,
    output_file: str,
    model: str,
    batch_size: int,
    console: Console,
) -> int:
    analyzer = build_analyzer(model, settings)
    total: int | None = len(texts)
    with contextlib.ExitStack() as stack:
        if input_file is None:
            items: Iterator[tuple[Any, str]] = iter(enumerate(texts, start=1))
        elif input_file == "-":
            items, total = _items(sys.stdin), None
        else:
            path = Path(input_file)
            if not path.is_file():
                raise ValidationFailed(f"no such input file: {input_file}", field="input")
            with path.open("rb") as counting:
                total = sum(1 for _ in counting)
            items = _items(stack.enter_context(path.open(encoding="utf-8")))
        out: IO[bytes] = (
            sys.stdout.buffer
            if output_file == "-"
            else stack.enter_context(Path(output_file).open("wb"))
        )
        bar = stack.enter_context(
            Progress(console=console, disable=input_file in (None, "-"), transient=False)
        )
        task = bar.add_task("analyse", total=total)
        done = 0
        while chunk := list(itertools.islice(items, batch_size)):
            # Empty lines still get an output line, so output line N answers input line N.
            results = analyzer.analyze([normalize_text(text) or " " for _, text in chunk])
            out.write(
                b"".join(_record(i, a) + b"\n" for (i, _), a in zip(chunk, results, strict=True))
            )
            done += len(chunk)
            bar.advance(task, len(chunk))
        out.flush()
    return done
