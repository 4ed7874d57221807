"""The broker between ingest and workers: a `Broker` protocol and its implementations."""

from sentiflow.queue.base import Broker, Delivery
from sentiflow.queue.memory import MemoryBroker

__all__ = ["Broker", "Delivery", "MemoryBroker"]
