"""The worker's batch write: posts, their analyses and rollup increments in one transaction,
idempotent under re-delivery. `batch.save_batch` picks the writer of the store's dialect."""

from sentiflow.store.write.base import Written
from sentiflow.store.write.batch import save_batch

__all__ = ["Written", "save_batch"]
