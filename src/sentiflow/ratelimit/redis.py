"""Token buckets in Redis, shared by every API process: one Lua script per check, timed by
Redis's own clock so that processes on machines with different clocks agree."""

from __future__ import annotations

import math
from typing import Any, Final

from sentiflow.connections import RedisConnection
from sentiflow.ratelimit.base import Decision, Rate

PART: Final = "ratelimit"

# KEYS[1]: the bucket (a hash of tokens and time); ARGV: capacity, tokens per second.
# Returns {allowed, tokens left as a string} (Lua numbers would come back truncated).
HIT: Final = """
local capacity = tonumber(ARGV[1])
local per_s = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_s)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_s * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """Buckets under `prefix`, on the process's Redis connection."""

    def __init__(self, redis: RedisConnection, prefix: str) -> None:
        self.redis = redis
        self._prefix = prefix
        self._script: Any = redis.client.register_script(HIT)

    async def hit(self, bucket: str, rate: Rate) -> Decision:
        with self.redis.errors(PART):
            allowed, tokens = await self._script(
                keys=[f"{self._prefix}:{bucket}"], args=[rate.capacity, rate.per_s]
            )
        left = float(tokens)
        return Decision.of(rate, left if math.isfinite(left) else 0.0, bool(int(allowed)))

    async def close(self) -> None:
        """Nothing of its own to close: the connection belongs to the process."""
