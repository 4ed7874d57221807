"""Near-duplicates: posts whose normalised text nearly matches a recent post's (retweets,
copy-pasted complaints) are grouped under that earlier post. A SimHash of each text
(`fingerprint.py`) is looked up in an index of recent ones, in memory in embedded mode and in
Redis, shared by every worker, in distributed mode."""

from sentiflow.duplicates.base import DuplicateIndex
from sentiflow.duplicates.fingerprint import fingerprints
from sentiflow.duplicates.memory import MemoryDuplicateIndex

__all__ = ["DuplicateIndex", "MemoryDuplicateIndex", "fingerprints"]
