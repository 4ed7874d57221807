"""Every Redis key, stream and channel name sentiflow uses, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "sentiflow"

    @property
    def posts_stream(self) -> str:
        return f"{self.prefix}:stream:posts"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}:stream:dead"

    @property
    def workers_group(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def events_channel(self) -> str:
        return f"{self.prefix}:events"

    def cache(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"
