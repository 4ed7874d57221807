"""Every Redis key, stream and channel name sentiflow uses, in one place."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


def consumer_name() -> str:
    """This process's consumer name in the workers' group: unique per host and process."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "sentiflow"

    @property
    def posts_stream(self) -> str:
        return f"{self.prefix}:stream:posts"

    @property
    def queued_posts(self) -> str:
        """How many posts the posts stream holds, unacknowledged (its entries hold many)."""
        return f"{self.prefix}:stream:posts:queued"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}:stream:dead"

    @property
    def workers_group(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def events_channel(self) -> str:
        return f"{self.prefix}:events"

    @property
    def signals(self) -> str:
        """The latest ranking signals (trending terms per window), one JSON value."""
        return f"{self.prefix}:signals:trending"

    @property
    def signals_version(self) -> str:
        return f"{self.prefix}:signals:version"

    @property
    def ratelimit(self) -> str:
        """Prefix of the rate limiter's token buckets (one hash per key or address and scope)."""
        return f"{self.prefix}:ratelimit"

    @property
    def duplicates(self) -> str:
        """Prefix of the near-duplicate index (a list of recent leaders per band value)."""
        return f"{self.prefix}:duplicates"

    def cache(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"

    # Scheduler and search jobs.
    @property
    def scheduler_lease(self) -> str:
        return f"{self.prefix}:lock:scheduler"

    @property
    def scheduler_fence(self) -> str:
        return f"{self.prefix}:fence:scheduler"

    def schedule_slot(self, job: str, slot: int) -> str:
        return f"{self.prefix}:slot:{job}:{slot}"

    def job_lock(self, job: str) -> str:
        return f"{self.prefix}:lock:job:{job}"

    def search(self, key: str) -> str:
        return f"{self.prefix}:search:{key}"

    # Analytics cache.
    def cache_scopes(self, source: str) -> str:
        """Hash of cache key → scope of the entries about one source ('*': every source)."""
        return f"{self.prefix}:cache-scopes:{source}"
