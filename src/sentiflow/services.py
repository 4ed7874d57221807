"""The composition root: `open_services(settings)` opens what a process needs and closes it all
in reverse order on the way out, even when something fails.

The store is always opened; the rest (broker, events, cache, locks, signals) is built on first
request, in memory in embedded mode or on the process's one Redis connection in distributed
mode (the rate limiter too). This is the only place that chooses. The roles (`roles.py`) ask for what they use and
hand each component only that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from sentiflow.analytics.cache import Cache, MemoryCache
from sentiflow.analytics.cache.redis import RedisCache
from sentiflow.connections import RedisConnection, connect
from sentiflow.duplicates import DuplicateIndex, MemoryDuplicateIndex
from sentiflow.duplicates.redis import RedisDuplicateIndex
from sentiflow.events import EventBus, MemoryEventBus
from sentiflow.events.redis import RedisEventBus
from sentiflow.keys import Keys
from sentiflow.locks import Locks, MemoryLocks
from sentiflow.locks.redis import RedisLocks
from sentiflow.queue.base import Broker, BrokerAdmin
from sentiflow.queue.memory import MemoryBroker
from sentiflow.queue.redis import RedisStreamsBroker
from sentiflow.queue.redis_admin import RedisStreamsAdmin
from sentiflow.ranking.signals import MemorySignalStore, SignalStore
from sentiflow.ranking.signals.redis import RedisSignalStore
from sentiflow.ratelimit import RateLimiter
from sentiflow.ratelimit.memory import MemoryRateLimiter
from sentiflow.ratelimit.redis import RedisRateLimiter
from sentiflow.settings import Mode, Settings
from sentiflow.store.db import Store


class Services:
    """What one process has opened. Each part is built once, on first request, and closed
    (if it needs closing) by the exit stack of `open_services`."""

    def __init__(
        self,
        settings: Settings,
        mode: Mode,
        store: Store,
        redis: RedisConnection | None,
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.store = store
        self.redis = redis
        self.keys = Keys(settings.redis_prefix)
        self._stack = stack
        self._memory_broker: MemoryBroker | None = None
        self._broker: Broker | None = None
        self._admin: BrokerAdmin | None = None
        self._events: EventBus | None = None
        self._cache: Cache | None = None
        self._locks: Locks | None = None
        self._signals: SignalStore | None = None
        self._ratelimiter: RateLimiter | None = None
        self._duplicates: DuplicateIndex | None = None

    def close_with(self, close: Callable[[], Awaitable[object]]) -> None:
        """Close something a role built when the process stops, before what was opened
        earlier."""
        self._stack.push_async_callback(close)

    async def broker(self) -> Broker:
        """The broker, started (its consumer group made), closed with the process."""
        if self._broker is None:
            broker: Broker
            if self.redis is None:
                broker = self._in_process_broker()
            else:
                broker = RedisStreamsBroker(self.redis, self.keys, self.settings.queue)
            await broker.start()
            self.close_with(broker.close)
            self._broker = broker
        return self._broker

    def admin(self) -> BrokerAdmin:
        """The broker's operators' side: queue figures and dead letters."""
        if self._admin is None:
            if self.redis is None:
                self._admin = self._in_process_broker()
            else:
                self._admin = RedisStreamsAdmin(self.redis, self.keys)
        return self._admin

    def _in_process_broker(self) -> MemoryBroker:
        """Embedded mode's broker is its own admin: one object for both sides."""
        if self._memory_broker is None:
            queue = self.settings.queue
            self._memory_broker = MemoryBroker(
                max_backlog=queue.max_backlog,
                max_deliveries=queue.max_deliveries,
                visibility_timeout_s=queue.visibility_timeout_s,
            )
        return self._memory_broker

    def events(self) -> EventBus:
        if self._events is None:
            events: EventBus
            if self.redis is None:
                events = MemoryEventBus()
            else:
                events = RedisEventBus(self.redis, self.keys)
            self.close_with(events.close)
            self._events = events
        return self._events

    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = MemoryCache() if self.redis is None else RedisCache(self.redis, self.keys)
        return self._cache

    def locks(self) -> Locks:
        if self._locks is None:
            self._locks = MemoryLocks() if self.redis is None else RedisLocks(self.redis)
        return self._locks

    def signals(self) -> SignalStore:
        if self._signals is None:
            self._signals = (
                MemorySignalStore()
                if self.redis is None
                else RedisSignalStore(self.redis, self.keys)
            )
        return self._signals

    def ratelimiter(self) -> RateLimiter:
        """Token buckets, shared by every API process through Redis in distributed mode."""
        if self._ratelimiter is None:
            self._ratelimiter = (
                MemoryRateLimiter()
                if self.redis is None
                else RedisRateLimiter(self.redis, self.keys.ratelimit)
            )
            self.close_with(self._ratelimiter.close)
        return self._ratelimiter

    def duplicates(self) -> DuplicateIndex:
        """The near-duplicate index, shared by every worker through Redis when there is one."""
        if self._duplicates is None:
            window = self.settings.near_duplicate_window_s
            self._duplicates = (
                MemoryDuplicateIndex(window_s=window)
                if self.redis is None
                else RedisDuplicateIndex(self.redis, self.keys.duplicates, window_s=window)
            )
            self.close_with(self._duplicates.close)
        return self._duplicates


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Check the mode (both URLs or neither), open the store (migrated in embedded mode, whose
    SQLite file nobody else migrates) and, in distributed mode, the one Redis connection;
    everything opened through the `Services` closes, newest first, when the block ends."""
    mode = settings.mode()
    async with contextlib.AsyncExitStack() as stack:
        store = Store.from_settings(settings)
        stack.push_async_callback(store.close)
        redis = None
        if settings.redis is not None:
            redis = connect(settings.redis)
            stack.push_async_callback(redis.close)
        if mode == "embedded":
            await store.migrate()
        yield Services(settings, mode, store, redis, stack)
