"""SQL for ranking: stored analyses of a feed's known posts (one bulk query), and the recent
posts the signal job reads to find trending terms."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import orjson
from sqlalchemy import select

from sentiflow.models import Analysis
from sentiflow.store.db import Store
from sentiflow.store.posts import utc
from sentiflow.store.schema import analyses, posts

# One driver-level query with the ids as one parameter, answering one row that the database
# assembles: a JSON array per column. Measured on a 500-item feed: a compiled `IN :ids` with
# one bind parameter per id, and SQLAlchemy's per-value result processing, cost three times
# the query; with a row per post, aiosqlite's thread takes the GIL back once per row, each time
# behind the busy event loop; and a JSON array per post would be one more object per post for
# the garbage collector to track. Both look up the primary key of `analyses`; analyzed_at is
# not read. exec_driver_sql, not the raw driver, so that SQLAlchemy's events see the query.
_COLUMNS = (
    "post_id",
    "sentiment",
    "sentiment_confidence",
    "sentiment_probs",
    "polarity",
    "emotion",
    "emotion_confidence",
    "emotion_probs",
    "model_version",
)
_REALS = {"sentiment_confidence", "polarity", "emotion_confidence"}
_JSONS = {"sentiment_probs", "emotion_probs"}


def _sqlite_array(column: str) -> str:
    """The column's values as a JSON array, in the order of the other columns' arrays."""
    if column in _REALS:  # JSON functions write a REAL with 15 digits; 17 give it back exactly
        return f"'[' || group_concat(printf('%!.17g', a.{column})) || ']'"
    if column in _JSONS:  # already JSON text: joined, not parsed again
        return f"'[' || group_concat(a.{column}) || ']'"
    return f"json_group_array(a.{column})"


_SQL = {
    "sqlite": "SELECT "
    + ", ".join(_sqlite_array(c) for c in _COLUMNS)
    + " FROM json_each(?) AS k JOIN analyses AS a ON a.post_id = k.value",
    "postgresql": "SELECT "
    + ", ".join(f"CAST(json_agg(a.{c}) AS TEXT)" for c in _COLUMNS)
    + " FROM analyses AS a WHERE a.post_id = ANY($1::varchar[])",
}


async def analyses_by_post_id(store: Store, post_ids: Collection[str]) -> dict[str, Analysis]:
    """The stored analyses of those of `post_ids` that have one, in one query. Their
    `analyzed_at` is the time of the lookup, not of the analysis."""
    if not post_ids:
        return {}
    ids = list(post_ids)
    param = orjson.dumps(ids).decode() if store.dialect == "sqlite" else ids
    async with store.engine.connect() as conn:
        row = (await conn.exec_driver_sql(_SQL[store.dialect], (param,))).one()
    columns = [orjson.loads(column or "[]") for column in row]
    now = datetime.now(UTC)
    return {
        pid: Analysis(s, sc, sp, pol, e, ec, ep, version, now)
        for pid, s, sc, sp, pol, e, ec, ep, version in zip(*columns, strict=True)
    }


async def recent_posts(
    store: Store, *, since: datetime, until: datetime, limit: int
) -> list[tuple[str, datetime, float | None]]:
    """(text, created_at, polarity) of the newest `limit` posts created in [since, until)."""
    stmt = (
        select(posts.c.text, posts.c.created_at, analyses.c.polarity)
        .select_from(posts.outerjoin(analyses, analyses.c.post_id == posts.c.id))
        .where(posts.c.created_at >= since, posts.c.created_at < until)
        .order_by(posts.c.created_at.desc())
        .limit(limit)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(row[0], utc(row[1]), row[2]) for row in rows]
