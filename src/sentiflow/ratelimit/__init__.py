"""Rate limits: token buckets per key (or client address) and route scope, in memory in
embedded mode and in Redis, shared by every API process, in distributed mode."""

from sentiflow.ratelimit.base import Decision, Rate, RateLimiter

__all__ = ["Decision", "Rate", "RateLimiter"]
