"""SQL for ranking: stored analyses of a feed's known posts (one bulk query), and the recent
posts the signal job reads to find trending terms."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import UTC, datetime

import orjson
from sqlalchemy import select

from sentiflow.models import EMOTIONS, SENTIMENTS, Analysis
from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, posts
from sentiflow.store.sql import utc

# One driver-level query with the ids as one parameter, answering one row that the database
# assembles: a JSON array per column. A compiled `IN :ids` with one bind parameter per id, and
# SQLAlchemy's per-value result processing, cost more than the query itself; with a row per post, aiosqlite's thread takes the GIL back once per row, each time
# behind the busy event loop; and a JSON array per post would be one more object per post for
# the garbage collector to track. Both look up the primary key of `analyses` (and of `labels`,
# for human corrections); analyzed_at is not read. exec_driver_sql, not the raw driver, so that
# SQLAlchemy's events see the query.
_COLUMNS = (
    "a.post_id",
    "a.sentiment",
    "a.sentiment_confidence",
    "a.sentiment_probs",
    "a.polarity",
    "a.emotion",
    "a.emotion_confidence",
    "a.emotion_probs",
    "a.model_version",
    "l.sentiment",
    "l.emotion",
)
_REALS = {"a.sentiment_confidence", "a.polarity", "a.emotion_confidence"}
_JSONS = {"a.sentiment_probs", "a.emotion_probs"}
_LABELS = "LEFT JOIN labels AS l ON l.post_id = a.post_id"


def _sqlite_array(column: str) -> str:
    """The column's values as a JSON array, in the order of the other columns' arrays."""
    if column in _REALS:  # JSON functions write a REAL with 15 digits; 17 give it back exactly
        return f"'[' || group_concat(printf('%!.17g', {column})) || ']'"
    if column in _JSONS:  # already JSON text: joined, not parsed again
        return f"'[' || group_concat({column}) || ']'"
    return f"json_group_array({column})"


_SQL = {
    "sqlite": "SELECT "
    + ", ".join(_sqlite_array(c) for c in _COLUMNS)
    + f" FROM json_each(?) AS k JOIN analyses AS a ON a.post_id = k.value {_LABELS}",
    "postgresql": "SELECT "
    + ", ".join(f"CAST(json_agg({c}) AS TEXT)" for c in _COLUMNS)
    + f" FROM analyses AS a {_LABELS} WHERE a.post_id = ANY($1::varchar[])",
}


def _one_hot(labels: tuple[str, ...], label: str) -> dict[str, float]:
    return {name: 1.0 if name == label else 0.0 for name in labels}


def corrected(analysis: Analysis, sentiment: str | None, emotion: str | None) -> Analysis:
    """The analysis as ranking sees it once a human labelled the post: where the label differs
    from the model's, that task is certain (its probabilities one-hot, confidence 1)."""
    if sentiment is not None and sentiment != analysis.sentiment:
        probs = _one_hot(SENTIMENTS, sentiment)
        analysis = dataclasses.replace(
            analysis,
            sentiment=sentiment,  # type: ignore[arg-type]
            sentiment_confidence=1.0,
            sentiment_probs=probs,
            polarity=probs["positive"] - probs["negative"],
        )
    if emotion is not None and emotion != analysis.emotion:
        analysis = dataclasses.replace(
            analysis,
            emotion=emotion,  # type: ignore[arg-type]
            emotion_confidence=1.0,
            emotion_probs=_one_hot(EMOTIONS, emotion),
        )
    return analysis


async def analyses_by_post_id(store: Store, post_ids: Collection[str]) -> dict[str, Analysis]:
    """The stored analyses of those of `post_ids` that have one, in one query, with human
    corrections applied (`corrected`). Their `analyzed_at` is the time of the lookup, not of
    the analysis."""
    if not post_ids:
        return {}
    ids = list(post_ids)
    param = orjson.dumps(ids).decode() if store.dialect == "sqlite" else ids
    loop_reads = store.loop_reads()
    if loop_reads is not None:  # SQLite: on the event loop, see `Store.loop_reads`
        with loop_reads.connect() as sync_conn:
            row = sync_conn.exec_driver_sql(_SQL[store.dialect], (param,)).one()
    else:
        async with store.engine.connect() as conn:
            row = (await conn.exec_driver_sql(_SQL[store.dialect], (param,))).one()
    columns = [orjson.loads(column or "[]") for column in row]
    now = datetime.now(UTC)
    found = {}
    for pid, s, sc, sp, pol, e, ec, ep, version, label_s, label_e in zip(*columns, strict=True):
        analysis = Analysis(s, sc, sp, pol, e, ec, ep, version, now)
        found[pid] = analysis if label_s is None else corrected(analysis, label_s, label_e)
    return found


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
