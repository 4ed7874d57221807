"""Analyzers that follow promotions: before each batch the pool checks the backend's
`<data dir>/models/<backend>/current` pointer (one `stat`) and loads the newly promoted
version when it changed, so running workers switch models without a restart.

It is also where each text gets its language (given, else identified) and where an answer for
a language its model was not trained on is hedged (`language.py`): every path to a model
(the worker's pool, the ranking channel, /api/analyze) goes through here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog

from sentiflow.analyze import language
from sentiflow.analyze.auto import AutoAnalyzer, languages_of
from sentiflow.analyze.base import Analyzer, analyze_in
from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import SentiflowError
from sentiflow.models import Analysis
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.analyze")


def pointer_path(name: str, settings: Settings) -> Path:
    # auto's promotable tier is builtin-fast.
    backend = "builtin-fast" if name == "auto" else name
    return settings.data_dir / "models" / backend / "current"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    # The pointer is replaced atomically (a new inode), so this changes on every promotion.
    return st.st_ino, st.st_mtime_ns, st.st_size


def _long_running(analyzer: Analyzer) -> Analyzer:
    """Pools and channels serve for long: auto's accurate tier loads there in the background
    while builtin-fast answers, instead of holding the first batch."""
    if isinstance(analyzer, AutoAnalyzer):
        analyzer.background = True
    return analyzer


class ReloadingAnalyzer:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self._settings = settings
        self._pointer = pointer_path(name, settings)
        self._stamp = _stamp(self._pointer)
        self._inner: Analyzer = _long_running(build_analyzer(name, settings))
        self.version = self._inner.version

    def refresh(self) -> bool:
        """Load the promoted version if the pointer changed; True when it did."""
        stamp = _stamp(self._pointer)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            inner = _long_running(build_analyzer(self.name, self._settings))
        except SentiflowError as exc:
            # A bad promotion must not stop the workers: keep the model in hand, say why.
            log.error("analyzer.reload_failed", model=self.name, error=exc.message)
            return False
        if inner.version != self.version:
            log.info("analyzer.reloaded", model=self.name, old=self.version, new=inner.version)
        old, self._inner, self.version = self._inner, inner, inner.version
        old.close()
        return True

    def analyze(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        *,
        fast: bool | None = None,
    ) -> list[Analysis]:
        """One analysis per text, each with its language: `langs` as given (None where not),
        the rest identified. `fast` picks auto's tier (see `auto.py`); other models ignore it."""
        self.refresh()
        inner = self._inner
        if self._settings.language_id:
            langs = language.fill(texts, langs)
        elif langs is None:
            langs = [None] * len(texts)
        if isinstance(inner, AutoAnalyzer):
            results = inner.analyze(texts, fast=fast, langs=langs)
        else:
            results = analyze_in(inner, texts, langs)
        return language.label(results, langs, languages_of(inner))

    def close(self) -> None:
        self._inner.close()
