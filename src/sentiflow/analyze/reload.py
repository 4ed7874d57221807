"""Analyzers that follow promotions: before each batch the pool checks the backend's
`<data dir>/models/<backend>/current` pointer (one `stat`) and loads the newly promoted
version when it changed, so running workers switch models without a restart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog

from sentiflow.analyze.base import Analyzer
from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import SentiflowError
from sentiflow.models import Analysis
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.analyze")


def pointer_path(name: str, settings: Settings) -> Path:
    return settings.data_dir / "models" / name / "current"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    # The pointer is replaced atomically (a new inode), so this changes on every promotion.
    return st.st_ino, st.st_mtime_ns, st.st_size


class ReloadingAnalyzer:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self._settings = settings
        self._pointer = pointer_path(name, settings)
        self._stamp = _stamp(self._pointer)
        self._inner: Analyzer = build_analyzer(name, settings)
        self.version = self._inner.version

    def refresh(self) -> bool:
        """Load the promoted version if the pointer changed; True when it did."""
        stamp = _stamp(self._pointer)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            inner = build_analyzer(self.name, self._settings)
        except SentiflowError as exc:
            # A bad promotion must not stop the workers: keep the model in hand, say why.
            log.error("analyzer.reload_failed", model=self.name, error=exc.message)
            return False
        if inner.version != self.version:
            log.info("analyzer.reloaded", model=self.name, old=self.version, new=inner.version)
        old, self._inner, self.version = self._inner, inner, inner.version
        old.close()
        return True

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        self.refresh()
        return self._inner.analyze(texts)

    def close(self) -> None:
        self._inner.close()
