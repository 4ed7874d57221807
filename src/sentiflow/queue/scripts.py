"""The Lua scripts of the Redis broker: each changes the stream and the count of queued posts
beside it together, so backpressure and `backlog` never disagree with the stream."""

from __future__ import annotations

from typing import Final

# Queue entries and count their posts in the backlog, all or none, refusing them (reply
# {0, backlog}) when the backlog would pass ARGV[1] (0: no limit, for posts queued again).
# ARGV after the limit: (posts, deliveries so far, payload) for each entry.
PUBLISH: Final = """
local posts = 0
for i = 2, #ARGV, 3 do posts = posts + tonumber(ARGV[i]) end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
if limit > 0 and held + posts > limit then return {0, held} end
for i = 2, #ARGV, 3 do
    if ARGV[i + 1] == '0' then
        redis.call('XADD', KEYS[1], '*', 'p', ARGV[i + 2])
    else
        redis.call('XADD', KEYS[1], '*', 'p', ARGV[i + 2], 'd', ARGV[i + 1])
    end
end
return {1, redis.call('INCRBY', KEYS[2], posts)}
"""

# Acknowledge finished entries, ARGV = group, then (entry id, posts) pairs, and take their posts
# off the backlog: only for an entry this call acknowledged, so an entry two consumers finish
# (after a reclaim) counts once. Never below zero: entries written by hand or by an older
# sentiflow were never counted.
FINISH: Final = """
local done = 0
for i = 2, #ARGV, 2 do
    if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
        done = done + tonumber(ARGV[i + 1])
    end
end
if done > 0 and redis.call('DECRBY', KEYS[2], done) < 0 then
    redis.call('SET', KEYS[2], 0)
end
return done
"""
