"""The analytics cache: the `Cache` protocol with scopes and changes (`base`), the in-process
`MemoryCache` (`memory`) and the shared `RedisCache` (`redis`). `single_flight` (in
`analytics/flight.py`) runs N concurrent identical misses as one computation."""

from sentiflow.analytics.cache.base import Cache, Change, Scope, cache_key
from sentiflow.analytics.cache.memory import MemoryCache

__all__ = ["Cache", "Change", "MemoryCache", "Scope", "cache_key"]
