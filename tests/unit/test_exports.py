"""Exports: GET /api/posts/export (CSV, JSON Lines, Parquet) with the filters of /api/posts,
read chunk by chunk by keyset and handed on as each chunk is encoded; the time series as CSV."""

from __future__ import annotations

import csv
import io

import httpx
import orjson
import pyarrow.parquet as pq
from sqlalchemy import event

from sentiflow.analytics import exports
from sentiflow.store.posts import PostFilter
from tests.conftest import wait_for

ANGRY = "This is terrible, I hate it, the worst service and I am furious #{n}"
HAPPY = "I love this, best day ever, thank you so much #{n}"


async def _seed(client: httpx.AsyncClient, posts: list[dict[str, str]]) -> None:
    response = await client.post("/api/posts", json=posts)
    assert response.status_code == 202, response.text

    async def stored() -> bool:
        total = (await client.get("/api/stats/summary")).json()["total"]
        return bool(total >= len(posts))

    await wait_for(stored, timeout=30)


def _posts(source: str, n: int, text: str) -> list[dict[str, str]]:
    return [
        {"source": source, "external_id": f"{source}-{i}", "text": text.format(n=i)}
        for i in range(n)
    ]


async def test_csv_streams_a_header_and_every_post_of_the_source(client: httpx.AsyncClient) -> None:
    await _seed(client, _posts("S", 30, ANGRY) + _posts("T", 4, HAPPY))
    response = await client.get("/api/posts/export", params={"format": "csv", "source": "S"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(exports.COLUMNS)
    assert sorted(r["external_id"] for r in rows) == sorted(f"S-{i}" for i in range(30))
    assert {r["source"] for r in rows} == {"S"}
    assert rows[0]["sentiment"] == "negative" and rows[0]["label_source"] == "model"
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)  # newest first, as /api/posts

    nothing = await client.get("/api/posts/export", params={"source": "nobody"})
    assert nothing.text.strip() == ",".join(exports.COLUMNS)  # a header, even for no rows


async def test_parquet_of_negative_posts_reads_back(client: httpx.AsyncClient) -> None:
    await _seed(client, _posts("S", 12, ANGRY) + _posts("S2", 9, HAPPY))
    response = await client.get(
        "/api/posts/export", params={"format": "parquet", "sentiment": "negative"}
    )
    assert response.status_code == 200, response.text
    table = pq.read_table(io.BytesIO(response.content))
    assert table.num_rows == 12
    assert set(table.column("sentiment").to_pylist()) == {"negative"}
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"

    jsonl = await client.get("/api/posts/export", params={"format": "jsonl", "q": "best day"})
    lines = [orjson.loads(line) for line in jsonl.content.splitlines()]
    assert len(lines) == 9 and all(line["source"] == "S2" for line in lines)
    assert orjson.loads(lines[0]["meta"]) == {}

    bad = await client.get("/api/posts/export", params={"format": "xlsx"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "format"


async def test_the_export_is_read_and_sent_chunk_by_chunk(client: httpx.AsyncClient) -> None:
    """Memory stays that of one chunk: each chunk is one LIMITed query, and its bytes are
    handed on before the next query runs; Parquet gets one row group per chunk."""
    await _seed(client, _posts("S", 45, ANGRY))
    store = client.app.state.services.store  # type: ignore[attr-defined]
    queries: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM posts" in statement and "LIMIT" in statement:
            queries.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        pieces = []
        queries_before_piece = []
        async for piece in exports.posts(store, PostFilter(source="S"), "parquet", chunk=10):
            queries_before_piece.append(len(queries))
            pieces.append(piece)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
    # Five chunks of at most 10 rows, each sent before the next was read, then the footer.
    assert queries_before_piece == [1, 2, 3, 4, 5, 5]
    assert len(queries) == 5
    parquet = pq.ParquetFile(io.BytesIO(b"".join(pieces)))
    assert parquet.metadata.num_row_groups == 5
    assert [parquet.metadata.row_group(i).num_rows for i in range(5)] == [10, 10, 10, 10, 5]
    assert len(set(parquet.read().column("id").to_pylist())) == 45


async def test_timeseries_as_csv(client: httpx.AsyncClient) -> None:
    await _seed(client, _posts("S", 3, ANGRY) + _posts("H", 2, HAPPY))
    response = await client.get("/api/stats/timeseries", params={"format": "csv"})
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["t", "total", "avg_polarity", "negative", "neutral", "positive"]
    totals = [(int(r[1]), int(r[3]), int(r[5])) for r in rows[1:]]
    assert sum(t for t, _, _ in totals) == 5
    assert sum(n for _, n, _ in totals) == 3 and sum(p for _, _, p in totals) == 2
    emotions = await client.get("/api/stats/timeseries", params={"format": "csv", "by": "emotion"})
    assert emotions.text.splitlines()[0].endswith("anger,disgust,fear,joy,sadness,surprise,neutral")
