"""`sentiflow db copy --to URL`: every table of one store (an embedded SQLite file, say) into
another database, migrated first, in chunks; the row counts of both are compared at the end.
A target that holds rows already is refused unless told to replace them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Table, delete, func, select, text

from sentiflow.errors import Conflict, SentiflowError
from sentiflow.store.db import Store, describe
from sentiflow.store.schema import metadata

CHUNK: Final = 2_000
# Tables whose integer ids a sequence hands out on PostgreSQL; after copying explicit ids the
# sequence must start past them.
SEQUENCED: Final = ("alerts", "corrections")


@dataclass(frozen=True, slots=True)
class Copied:
    tables: dict[str, int]


def tables() -> list[Table]:
    """Every table, parents before children (posts before analyses, keys before sessions)."""
    return list(metadata.sorted_tables)


async def counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in tables()
        }


async def copy_store(
    source: Store,
    target: Store,
    *,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> Copied:
    """Copy every row of `source` into `target` (migrated here); `progress(table, rows)` is
    told after each chunk."""
    await target.migrate()
    held = {name: n for name, n in (await counts(target)).items() if n}
    if held and not replace:
        listed = ", ".join(f"{name} ({n:,})" for name, n in sorted(held.items()))
        raise Conflict(
            f"the database at {describe(str(target.engine.url))} is not empty: {listed}; "
            "copy into an empty database, or pass --force to delete its rows first"
        )
    if held:
        async with target.engine.begin() as conn:
            for table in reversed(tables()):
                await conn.execute(delete(table))
    for table in tables():
        await _copy_table(source, target, table, progress)
    if target.dialect == "postgresql":
        await _advance_sequences(target)
    wanted, got = await counts(source), await counts(target)
    differing = {name: (wanted[name], got[name]) for name in wanted if wanted[name] != got[name]}
    if differing:
        listed = ", ".join(f"{n}: {a:,} here, {b:,} there" for n, (a, b) in differing.items())
        raise SentiflowError(f"the copy's row counts differ ({listed}); run it again with --force")
    return Copied(got)


async def _copy_table(
    source: Store, target: Store, table: Table, progress: Callable[[str, int], None] | None
) -> None:
    order = list(table.primary_key.columns) or list(table.columns)
    async with source.engine.connect() as reading:
        result = await reading.stream(select(table).order_by(*order))
        async for chunk in result.partitions(CHUNK):
            rows = [{k: _aware(v) for k, v in row._mapping.items()} for row in chunk]
            async with target.engine.begin() as writing:
                await writing.execute(table.insert(), rows)
            if progress is not None:
                progress(table.name, len(rows))


def _aware(value: Any) -> Any:
    """SQLite hands times back naive; every stored time is UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def _advance_sequences(target: Store) -> None:
    async with target.engine.begin() as conn:
        for name in SEQUENCED:
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                )
            )
