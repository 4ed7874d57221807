"""The rate limiter contract, run against the memory and the Redis implementation."""

from __future__ import annotations

import asyncio

from sentiflow.ratelimit.base import Rate, RateLimiter


async def check_contract(limiter: RateLimiter) -> None:
    rate = Rate.parse("5/s")
    first = [await limiter.hit("a", rate) for _ in range(7)]
    assert [d.allowed for d in first] == [True] * 5 + [False] * 2
    assert [d.remaining for d in first[:5]] == [4, 3, 2, 1, 0]
    assert all(d.limit == 5 for d in first)
    refused = first[-1]
    assert 0 < refused.retry_after_s <= 0.2 and refused.reset_s <= 1.0
    # Another bucket is untouched, and this one refills at 5 a second.
    assert (await limiter.hit("b", rate)).remaining == 4
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await limiter.hit("a", rate)).allowed
    slow = Rate.parse("2/h")
    assert [(await limiter.hit("h", slow)).allowed for _ in range(3)] == [True, True, False]
    assert (await limiter.hit("h", slow)).retry_after_s > 1000
