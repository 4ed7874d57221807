"""Texts analysed on request (`POST /api/analyze`), answered at once and never stored.

The configured analyzer is reached through the path ranking uses (its thread for small
requests, its analyzer processes for big ones), handed in as `default`; another installed
backend named by the caller is built on first use, in a thread, and kept for the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.analyze.registry import names
from sentiflow.errors import NotFound, SentiflowError, ValidationFailed
from sentiflow.models import Analysis
from sentiflow.settings import Settings

AnalyzeFn = Callable[[Sequence[str]], Awaitable[list[Analysis]]]


class OnDemand:
    def __init__(self, settings: Settings, default: AnalyzeFn) -> None:
        self.settings = settings
        self._default = default
        self._others: dict[str, AnalyzerPool] = {}
        self._loading = asyncio.Lock()

    async def analyze(self, texts: Sequence[str], *, model: str | None = None) -> list[Analysis]:
        """One analysis per text, in order, by `model` (default: SENTIFLOW_ANALYZER)."""
        if model is None or model == self.settings.analyzer:
            return await self._default(texts)
        return await (await self._other(model)).analyze(texts)

    async def _other(self, model: str) -> AnalyzerPool:
        if model not in names():
            known = ", ".join(sorted(names()))
            raise ValidationFailed(
                f"model {model!r} is not an analyzer; choose one of: {known} "
                "(or leave it out for the server's own)",
                field="model",
            )
        async with self._loading:  # concurrent first requests load it once
            pool = self._others.get(model)
            if pool is None:
                pool = await asyncio.to_thread(self._build, model)
                self._others[model] = pool
        return pool

    def _build(self, model: str) -> AnalyzerPool:
        try:
            return AnalyzerPool(self.settings, name=model, processes=0)
        except (SentiflowError, ImportError, OSError) as exc:
            reason = exc.message if isinstance(exc, SentiflowError) else f"{exc}"
            raise NotFound(
                f"model {model!r} is not installed on this server ({reason}); leave `model` "
                "out for the server's own analyzer",
                field="model",
            ) from exc

    def close(self) -> None:
        for pool in self._others.values():
            pool.close()
        self._others.clear()
