"""The rate limiter protocol, a rate ("20/s"), and what one check decides.

A bucket holds up to `capacity` tokens and gains `per_s` a second; a request takes one. So
"20/s" lets a client send 20 at once, then 20 a second.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Protocol

from sentiflow.errors import ValidationFailed

_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: float
    per_s: float

    @classmethod
    def parse(cls, text: str, *, field: str = "rate_limit") -> Rate:
        """ "20/s", "600/m" or "1000/h" as a rate; ValidationFailed naming `field` otherwise."""
        match = _RATE.match(text)
        if match is None or float(match[1]) < 1:
            raise ValidationFailed(
                f"rate limit {text!r} is not N/s, N/m or N/h with N ≥ 1 (e.g. 20/s)", field=field
            )
        count = float(match[1])
        return cls(capacity=count, per_s=count / _UNITS[match[2]])

    @property
    def limit(self) -> int:
        return int(self.capacity)


@dataclass(frozen=True, slots=True)
class Decision:
    """One check: whether the request may go on, and what the RateLimit headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the bucket is full again
    retry_after_s: float  # until one token is back (0 when allowed)

    @classmethod
    def of(cls, rate: Rate, tokens: float, allowed: bool) -> Decision:
        """The decision for a bucket left with `tokens` after the check."""
        return cls(
            allowed=allowed,
            limit=rate.limit,
            remaining=max(0, math.floor(tokens)),
            reset_s=max(0.0, (rate.capacity - tokens) / rate.per_s),
            retry_after_s=0.0 if allowed else max(0.0, (1.0 - tokens) / rate.per_s),
        )


class RateLimiter(Protocol):
    async def hit(self, bucket: str, rate: Rate) -> Decision:
        """Take one token from `bucket` (created full) if it has one."""

    async def close(self) -> None: ...
