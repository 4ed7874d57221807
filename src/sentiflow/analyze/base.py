"""The `Analyzer` contract: a batch of texts in, one `Analysis` per text out, in order.

`analyze` is synchronous and CPU-bound on purpose: callers run it in a thread or a worker
process (see `pool.py`), never on an event loop. Analyzers are built by name from settings
(`registry.py`) so a worker process can build its own copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sentiflow.models import Analysis


@runtime_checkable
class Analyzer(Protocol):
    name: str
    version: str

    def analyze(self, texts: Sequence[str]) -> list[Analysis]: ...
