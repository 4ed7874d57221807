"""The near-duplicate index in Redis, shared by every worker: one list of recent leaders per
(band, band value), so a lookup reads only the lists of the post's four bands. One Lua script
per batch matches and records its posts atomically, so two workers never make two leaders of
copies they see at once. The lists expire after the window and keep at most `per_list`
leaders each, which bounds Redis's memory whatever the traffic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sentiflow.connections import RedisConnection
from sentiflow.duplicates.base import MAX_DISTANCE, Item
from sentiflow.duplicates.fingerprint import BANDS, bands

PART: Final = "duplicates"

# KEYS: four per post, its bands' lists. ARGV: max distance, list cap, TTL seconds, then five
# per post: its id and its four 16-bit chunks (empty without a fingerprint). A list entry is
# "c1,c2,c3,c4,leader id". Returns one value per post: the leader's id, or "" for none.
GROUP: Final = """
local max_distance = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local function ones(x)
  local n = 0
  while x ~= 0 do
    x = bit.band(x, x - 1)
    n = n + 1
  end
  return n
end
local out = {}
for p = 0, (#ARGV - 3) / 5 - 1 do
  local at = 4 + p * 5
  local id = ARGV[at]
  local leader = ''
  if ARGV[at + 1] ~= '' then
    local chunks = {}
    for b = 1, 4 do chunks[b] = tonumber(ARGV[at + b]) end
    for b = 1, 4 do
      for _, entry in ipairs(redis.call('LRANGE', KEYS[p * 4 + b], 0, -1)) do
        local c1, c2, c3, c4, other = string.match(entry, '^(%d+),(%d+),(%d+),(%d+),(.+)$')
        local d = ones(bit.bxor(chunks[1], tonumber(c1))) + ones(bit.bxor(chunks[2], tonumber(c2)))
          + ones(bit.bxor(chunks[3], tonumber(c3))) + ones(bit.bxor(chunks[4], tonumber(c4)))
        if d <= max_distance then
          leader = other
          break
        end
      end
      if leader ~= '' then break end
    end
    if leader == '' then
      local entry = table.concat(chunks, ',') .. ',' .. id
      for b = 1, 4 do
        local key = KEYS[p * 4 + b]
        redis.call('LPUSH', key, entry)
        redis.call('LTRIM', key, 0, cap - 1)
        redis.call('EXPIRE', key, ttl)
      end
    elseif leader == id then
      leader = ''
    end
  end
  out[#out + 1] = leader
end
return out
"""


class RedisDuplicateIndex:
    def __init__(
        self, redis: RedisConnection, prefix: str, *, window_s: float, per_list: int = 32
    ) -> None:
        self.redis = redis
        self._prefix = prefix
        self.window_s = window_s
        self.per_list = per_list
        self._script: Any = redis.client.register_script(GROUP)

    async def group(self, items: Sequence[Item]) -> list[str | None]:
        if not items:
            return []
        keys: list[str] = []
        args: list[Any] = [MAX_DISTANCE, self.per_list, max(1, int(self.window_s))]
        for post_id, fingerprint in items:
            chunks = bands(fingerprint) if fingerprint is not None else [0] * BANDS
            keys.extend(f"{self._prefix}:{band}:{value}" for band, value in enumerate(chunks))
            args.append(post_id)
            args.extend(chunks if fingerprint is not None else [""] * BANDS)
        with self.redis.errors(PART):
            found = await self._script(keys=keys, args=args)
        return [(f.decode() if isinstance(f, bytes) else f) or None for f in found]

    async def close(self) -> None:
        """Nothing of its own to close: the connection belongs to the process."""
