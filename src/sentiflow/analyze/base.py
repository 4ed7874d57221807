"""The `Analyzer` contract: a batch of texts in, one `Analysis` per text out, in order; `close`
releases what the model holds beyond memory (an HTTP client, say), once it is no longer used.

`analyze` is synchronous and CPU-bound on purpose: it never runs on an event loop. The one way
to run it from async code is an `AnalyzerPool` (`pool.py`: a thread, or processes that each
build their own copy); `channel.py`'s single process serves latency-bound ranking the same
way. Analyzers are built by name from settings (`registry.py`).

An analyzer may also have `languages`, a mapping of the model versions it answers with to the
ISO 639-1 codes of their training data: a text in another language then gets a hedged answer
(`language.py`). Without it, every language is taken as known (an LLM, a hub model).

An analyzer whose answer depends on each text's language (builtin-fast's language heads,
auto's routing) sets `reads_language = True` and takes `langs=` (ISO 639-1 codes, None where
unknown) beside the texts; `analyze_in` passes them to it and leaves every other analyzer as
it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeGuard, runtime_checkable

from sentiflow.models import Analysis


@runtime_checkable
class Analyzer(Protocol):
    name: str
    version: str

    def analyze(self, texts: Sequence[str]) -> list[Analysis]: ...

    def close(self) -> None: ...


class ReadsLanguage(Protocol):
    reads_language: bool

    def analyze(
        self, texts: Sequence[str], *, langs: Sequence[str | None] | None = None
    ) -> list[Analysis]: ...


def reads_language(analyzer: object) -> TypeGuard[ReadsLanguage]:
    return getattr(analyzer, "reads_language", False) is True


def analyze_in(
    analyzer: Analyzer, texts: Sequence[str], langs: Sequence[str | None] | None
) -> list[Analysis]:
    """`analyzer.analyze(texts)`, with each text's language for an analyzer that reads it."""
    if langs is not None and reads_language(analyzer):
        return analyzer.analyze(texts, langs=langs)
    return analyzer.analyze(texts)
