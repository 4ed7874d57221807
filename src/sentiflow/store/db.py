"""The `Store`: one async engine, migrations, health, and the translation of a database that
cannot be reached into `Unavailable(part="store")`, so no caller needs to know the driver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentiflow.errors import ConfigError, Unavailable, caused_by
from sentiflow.settings import Settings, postgres_url

MIGRATIONS = Path(__file__).parent / "migrations"

# Errors that say the database is away, not that the data is bad.
_AWAY = (
    OSError,
    OperationalError,
    InterfaceError,
    asyncpg.InterfaceError,  # includes "connection was closed in the middle of operation"
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def unreachable(exc: BaseException) -> bool:
    """True when `exc`, or what caused it, says the database cannot be reached."""
    return caused_by(
        exc,
        lambda e: isinstance(e, _AWAY) or (isinstance(e, DBAPIError) and e.connection_invalidated),
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the worker writes; NORMAL sync is durable across app
    # crashes (not power loss), the usual trade for an embedded analytics store.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# asyncpg's options behind a transaction-mode pooler: a server connection is ours for one
# transaction only, so a statement prepared and kept for reuse would be missing (or another
# client's) on the next; with both caches off asyncpg sends unnamed statements, which live
# inside the transaction that runs them. COPY needs nothing more.
POOLED: Final = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def make_engine(url: str, *, echo: bool = False, pooled: bool = False) -> AsyncEngine:
    # orjson for JSON columns: the stdlib encoder is a visible cost on the batch write path.
    json = {"json_serializer": _json, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, **json)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        postgres_url(url),
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args=dict(POOLED) if pooled else {},
        **json,
    )


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Store:
    def __init__(self, engine: AsyncEngine, *, pooled: bool = False) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Behind a transaction-mode pooler (SENTIFLOW_DATABASE_POOLER=transaction).
        self.pooled = pooled
        self._loop_reads: Engine | None = None

    async def connect_driver(self) -> Any:
        """A connection of the driver itself (asyncpg), for bulk work outside SQLAlchemy, with
        the options the pooler setting asks for; the caller closes it."""
        url = self.engine.url.set(drivername="postgresql")
        options: dict[str, Any] = {"statement_cache_size": 0} if self.pooled else {}
        if "ssl" in url.query:  # a DSN names it sslmode, as libpq does
            options["ssl"] = url.query["ssl"]
            url = url.difference_update_query(["ssl"])
        return await asyncpg.connect(url.render_as_string(hide_password=False), **options)

    def loop_reads(self) -> Engine | None:
        """A synchronous, read-only engine on the same SQLite file, for short primary-key
        reads made on the event loop itself (ranking's lookup); None for PostgreSQL and for an
        in-memory database. Through aiosqlite such a read is five hand-offs to its thread and
        back, and each waits for the GIL behind the busy loop: under load, far longer than the
        SQLite read itself. In WAL mode a reader never waits for the writer;
        should it find the file locked (a migration starting), it gives up after 50 ms
        rather than hold the loop."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        if self._loop_reads is None:
            self._loop_reads = create_engine(
                self.engine.url.set(drivername="sqlite"),
                connect_args={"timeout": 0.05, "check_same_thread": False},
            )
            event.listen(self._loop_reads, "connect", _read_only)
        return self._loop_reads

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        pooled = settings.database_pooler == "transaction"
        return cls(make_engine(settings.sqlalchemy_url, pooled=pooled), pooled=pooled)

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic, on this engine's connection)."""

        def upgrade(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

        try:
            async with self._one_migration_at_a_time(), self.engine.begin() as conn:
                await conn.run_sync(upgrade)
        except (OSError, OperationalError, DBAPIError) as exc:
            raise self._unavailable(exc) from exc

    @contextlib.asynccontextmanager
    async def _one_migration_at_a_time(self) -> AsyncIterator[None]:
        """The API processes of `sentiflow api --workers N` start together on one SQLite file,
        and two migrations of it at once fail ("table alembic_version already exists"): the
        second waits here for the first, then finds nothing left to do."""
        database = self.engine.url.database
        try:
            import fcntl
        except ImportError:  # Windows: one process per file there
            fcntl = None  # type: ignore[assignment]
        if fcntl is None or self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        lock = await asyncio.to_thread(open, f"{database}.migrate-lock", "a")
        with lock:
            await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (OSError, OperationalError, DBAPIError) as exc:
            raise self._unavailable(exc) from exc

    async def require_schema(self) -> None:
        """Raise `ConfigError` unless every migration is applied (servers never migrate)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        wanted = set(ScriptDirectory.from_config(config).get_heads())
        try:
            async with self.engine.connect() as conn:
                current = set(
                    await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
                )
        except (OSError, OperationalError, DBAPIError) as exc:
            raise self._unavailable(exc) from exc
        if current != wanted:
            url = describe(str(self.engine.url))
            raise ConfigError(
                f"the database at {url} is not at the newest schema; run `sentiflow db upgrade`"
            )

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Raise `Unavailable` for a database that cannot be reached inside the block; other
        errors (bad data, a bug) pass unchanged."""
        try:
            yield
        except Exception as exc:
            if unreachable(exc):
                raise self._unavailable(exc) from exc
            raise

    def _unavailable(self, exc: BaseException) -> Unavailable:
        url = describe(str(self.engine.url))
        return Unavailable(
            f"the database at {url} cannot be reached ({type(exc).__name__}); "
            "start it or fix SENTIFLOW_DATABASE_URL",
            part="store",
        )

    async def close(self) -> None:
        if self._loop_reads is not None:
            self._loop_reads.dispose()
        await self.engine.dispose()
