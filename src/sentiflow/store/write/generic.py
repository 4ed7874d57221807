"""The writer for any other dialect: SQLAlchemy's INSERT … ON CONFLICT, row by row values."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.store.db import Store
from sentiflow.store.rollups import add_rollups
from sentiflow.store.schema import analyses, posts
from sentiflow.store.sql import insert_for
from sentiflow.store.write.base import Copies, Rows, Written, analysis_row, post_row, write_with


async def save(store: Store, rows: Rows, copies: Copies) -> Written:
    return await write_with(
        store, rows, partial(_insert, store, copies), partial(add_rollups, store)
    )


async def _insert(
    store: Store, copies: Copies, conn: AsyncConnection, rows: Rows, now: datetime
) -> list[str]:
    stmt = (
        insert_for(store, posts)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(posts.c.id)
    )
    post_rows = [post_row(pid, post, a, now, copies) for pid, (post, a) in rows.items()]
    new_ids = [r[0] for r in await conn.execute(stmt, post_rows)]
    if new_ids:
        await conn.execute(
            insert_for(store, analyses).on_conflict_do_nothing(index_elements=["post_id"]),
            [analysis_row(pid, rows[pid][1]) for pid in new_ids],
        )
    return new_ids
