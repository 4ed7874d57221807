"""The broker between ingest and workers: the `Broker` protocol and its admin side (`base`),
in process (`memory`) or on a Redis stream (`redis`, with `codec` and `scripts`)."""

from sentiflow.queue.base import Broker, BrokerAdmin, Delivery, QueueStats, drain
from sentiflow.queue.memory import MemoryBroker

__all__ = ["Broker", "BrokerAdmin", "Delivery", "MemoryBroker", "QueueStats", "drain"]
