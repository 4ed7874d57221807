"""Where the background ranking signals live: the `SignalStore` protocol (`base`), in process
(`memory`) or one JSON value in Redis (`redis`). `ranking/trending.py` computes them."""

from sentiflow.ranking.signals.base import SignalStore, decode, encode
from sentiflow.ranking.signals.memory import MemorySignalStore

__all__ = ["MemorySignalStore", "SignalStore", "decode", "encode"]
