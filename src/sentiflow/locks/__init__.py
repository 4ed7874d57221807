"""Leases and claims shared by the processes of one deployment: the `Locks` protocol (`base`),
a dict in embedded mode (`memory`), Redis in distributed mode (`redis`)."""

from sentiflow.locks.base import Locks
from sentiflow.locks.memory import MemoryLocks

__all__ = ["Locks", "MemoryLocks"]
