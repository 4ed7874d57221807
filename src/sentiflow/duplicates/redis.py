"""The near-duplicate index in Redis, shared by every worker: one hash per band, whose field
is the band's 16 bits and whose value holds the recent leaders with those bits (id,
fingerprint and when seen, newest first, at most `per_key`, none older than the window).

One Lua script per batch matches and records its posts atomically, so two workers never make
two leaders of copies they see at once. It reads each band's fields of the whole batch with
one HMGET and writes the changed ones back with one HSET (a Redis call per post would cost
more than the matching); the batch goes in as one packed argument and the answer comes back
as one string. The four hashes have at most 65,536 fields each, which bounds Redis's memory
whatever the traffic, and expire when no batch has come for a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sentiflow.connections import RedisConnection
from sentiflow.duplicates.base import MAX_DISTANCE, Item

PART: Final = "duplicates"
_ID: Final = 24  # characters of a post id
_NONE: Final = " " * _ID

# ARGV: key prefix, max distance, leaders kept per field, window seconds, and the batch: per
# post its id (24 characters) then its fingerprint (8 bytes, little-endian). A leader is 36
# bytes: id, fingerprint, and the second it was seen (4 bytes). Returns 24 characters per
# post: its leader's id, or spaces for none.
GROUP: Final = """
local prefix, max_distance = ARGV[1], tonumber(ARGV[2])
local cap, window, batch = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local now = tonumber(redis.call('TIME')[1])
local stamp, oldest = struct.pack('>I4', now), now - window
local none, n, chunk = string.rep(' ', 24), #batch / 32, 2000
local ones = {}
for i = 0, 255 do
  local c, x = 0, i
  while x > 0 do
    c = c + x % 2
    x = math.floor(x / 2)
  end
  ones[i] = c
end
local keys, fields, lists, changed = {}, {}, {}, {}
for b = 1, 4 do
  keys[b], fields[b], lists[b], changed[b] = prefix .. ':' .. (b - 1), {}, {}, {}
  for p = 1, n do
    local at = (p - 1) * 32 + 24 + 2 * b - 1
    fields[b][p] = string.sub(batch, at, at + 1)
  end
  for s = 1, n, chunk do
    local e = math.min(n, s + chunk - 1)
    local got = redis.call('HMGET', keys[b], unpack(fields[b], s, e))
    for i = s, e do
      lists[b][fields[b][i]] = got[i - s + 1] or ''
    end
  end
end
local out = {}
for p = 1, n do
  local at = (p - 1) * 32 + 1
  local id, print = string.sub(batch, at, at + 23), string.sub(batch, at + 24, at + 31)
  local q1, q2, q3, q4, q5, q6, q7, q8 = string.byte(print, 1, 8)
  local leader = none
  for b = 1, 4 do
    local list = lists[b][fields[b][p]]
    for e = 1, #list, 36 do
      local r1, r2, r3, r4, r5, r6, r7, r8 = string.byte(list, e + 24, e + 31)
      local d = ones[bit.bxor(q1, r1)] + ones[bit.bxor(q2, r2)] + ones[bit.bxor(q3, r3)]
        + ones[bit.bxor(q4, r4)] + ones[bit.bxor(q5, r5)] + ones[bit.bxor(q6, r6)]
        + ones[bit.bxor(q7, r7)] + ones[bit.bxor(q8, r8)]
      if d <= max_distance and struct.unpack('>I4', list, e + 32) >= oldest then
        leader = string.sub(list, e, e + 23)
        break
      end
    end
    if leader ~= none then break end
  end
  if leader == none then
    -- Newest first; past `cap` the oldest go (and past the window, as they are read).
    local entry = id .. print .. stamp
    for b = 1, 4 do
      local field = fields[b][p]
      lists[b][field] = string.sub(entry .. lists[b][field], 1, 36 * cap)
      changed[b][field] = true
    end
  elseif leader == id then
    leader = none
  end
  out[p] = leader
end
for b = 1, 4 do
  local args = {}
  for field in pairs(changed[b]) do
    args[#args + 1] = field
    args[#args + 1] = lists[b][field]
  end
  for s = 1, #args, chunk do
    redis.call('HSET', keys[b], unpack(args, s, math.min(#args, s + chunk - 1)))
  end
  redis.call('EXPIRE', keys[b], window)
end
return table.concat(out)
"""


class RedisDuplicateIndex:
    def __init__(
        self, redis: RedisConnection, prefix: str, *, window_s: float, per_key: int = 16
    ) -> None:
        self.redis = redis
        self._prefix = prefix
        self.window_s = window_s
        self.per_key = per_key
        self._script: Any = redis.client.register_script(GROUP)

    async def group(self, items: Sequence[Item]) -> list[str | None]:
        known = [(pid, fp) for pid, fp in items if fp is not None]
        if not known:
            return [None] * len(items)
        batch = b"".join(pid.encode() + fp.to_bytes(8, "little") for pid, fp in known)
        args = [self._prefix, MAX_DISTANCE, self.per_key, max(1, int(self.window_s)), batch]
        with self.redis.errors(PART):
            answer: bytes = await self._script(keys=[], args=args)
        text = answer.decode()
        leaders = {pid: text[i * _ID : (i + 1) * _ID] for i, (pid, _) in enumerate(known)}
        return [None if fp is None or leaders[pid] == _NONE else leaders[pid] for pid, fp in items]

    async def close(self) -> None:
        """Nothing of its own to close: the connection belongs to the process."""
