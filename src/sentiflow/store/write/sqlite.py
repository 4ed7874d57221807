"""SQLite's writer: the posts and their analyses as multi-row INSERT … ON CONFLICT statements
with values converted once, here, and handed straight to the driver (SQLAlchemy's per-value
bind processing is the largest cost of the embedded pipeline); rollups through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.store.db import Store
from sentiflow.store.rollups import add_rollups
from sentiflow.store.schema import analyses, posts
from sentiflow.store.write.base import Copies, Rows, Written, write_with

# The columns written, in the order of the values handed to the driver.
POST_COLUMNS: Final = [c.name for c in posts.columns if c.name != "handled_at"]
ANALYSIS_COLUMNS: Final = [c.name for c in analyses.columns]
MAX_VARIABLES: Final = 32_766


async def save(store: Store, rows: Rows, copies: Copies) -> Written:
    return await write_with(store, rows, partial(_insert, copies), partial(add_rollups, store))


def _time(moment: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime writes and reads (UTC, no offset)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _insert(copies: Copies, conn: AsyncConnection, rows: Rows, now: datetime) -> list[str]:
    stamp = _time(now)
    post_values = [
        (
            pid,
            post.source,
            post.dedup_key[1],
            post.text,
            post.author,
            _time(post.created_at),
            post.url,
            post.topic,
            _json(post.meta),
            stamp,
            copies.get(pid),
            post.lang or a.lang,
        )
        for pid, (post, a) in rows.items()
    ]
    width = len(POST_COLUMNS)
    per_statement = MAX_VARIABLES // width
    new_ids: list[str] = []
    for start in range(0, len(post_values), per_statement):
        chunk = post_values[start : start + per_statement]
        placeholders = ",".join(["(" + ",".join("?" * width) + ")"] * len(chunk))
        result = await conn.exec_driver_sql(
            f"INSERT INTO posts ({','.join(POST_COLUMNS)}) VALUES {placeholders} "
            "ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
            tuple(value for row in chunk for value in row),
        )
        new_ids.extend(r[0] for r in result)
    if new_ids:
        analysis_values = []
        for pid in new_ids:
            a = rows[pid][1]
            analysis_values.append(
                (
                    pid,
                    a.sentiment,
                    a.sentiment_confidence,
                    _json(a.sentiment_probs),
                    a.polarity,
                    a.emotion,
                    a.emotion_confidence,
                    _json(a.emotion_probs),
                    a.model_version,
                    _time(a.analyzed_at),
                )
            )
        await conn.exec_driver_sql(
            f"INSERT INTO analyses ({','.join(ANALYSIS_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(ANALYSIS_COLUMNS))}) ON CONFLICT (post_id) DO NOTHING",
            analysis_values,
        )
    return new_ids
