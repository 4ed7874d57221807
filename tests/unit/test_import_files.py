"""Files as users bring them: CSV rows spanning lines counted as rows, extra columns kept in
meta (or dropped), the file's own labels mapped and stored apart from corrections, and rows
whose date cannot be read rejected with their line and value, or kept with the import time."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from sentiflow.errors import ValidationFailed
from sentiflow.ingest.dates import DateReader
from sentiflow.ingest.files import ColumnMap, FileReader, count_records
from sentiflow.ingest.importer import ImportResult, Shaping, import_posts
from sentiflow.ingest.labelmap import LabelMap
from sentiflow.roles import feed
from sentiflow.settings import Settings
from sentiflow.store.schema import import_labels, labels, posts
from tests.unit.review_csv import write_reviews

REVIEWS = ColumnMap(
    text="Review", author="Reviewer", created_at="Time", topic="Restaurant Name", label="Rating"
)
STARS = "1-2:negative,3:neutral,4-5:positive"


def test_csv_rows_spanning_lines_are_one_record_each(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    rows = write_reviews(path, 60)
    assert path.read_text().count("\n") > 61  # more lines than rows: the quoted reviews span lines
    assert count_records(path, "csv") == 60
    records = list(FileReader(path, "csv", REVIEWS))
    assert [r.line for r in records] == [row.line for row in rows]
    first = records[0].post
    assert first is not None
    assert first["text"] == rows[0].review and first["author"] == "Reviewer 0"
    assert first["meta"]["Rating"] == str(rows[0].rating)
    assert set(first["meta"]) == {"Rating", "Metadata", "Pictures"}
    assert records[0].label == str(rows[0].rating)


def test_jsonl_and_parquet_counts_and_extras(tmp_path: Path) -> None:
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(
        '{"text": "a", "stars": 5, "meta": {"lang": "en"}}\n\n{"text": "b", "stars": null}\n'
    )
    assert count_records(jsonl, "jsonl") == 2
    got = [r.post for r in FileReader(jsonl, "jsonl", ColumnMap())]
    assert got[0] is not None and got[0]["meta"] == {"lang": "en", "stars": 5}
    assert got[1] is not None and "meta" not in got[1]
    parquet = tmp_path / "posts.parquet"
    when = datetime(2019, 5, 25, tzinfo=UTC)
    table = pa.table({"text": ["x", "y", "z"], "seen": [when] * 3, "n": [1, 2, 3]})
    pq.write_table(table, parquet, row_group_size=2)
    assert count_records(parquet, "parquet") == 3
    reader = FileReader(parquet, "parquet", ColumnMap())
    parquet_posts = [r.post for r in reader]
    assert parquet_posts[2] == {
        "source": "import",
        "text": "z",
        "meta": {"seen": "2019-05-25T00:00:00+00:00", "n": 3},
    }
    assert reader.bytes_read > 0


def test_drop_extra_keeps_only_the_posts_own_meta(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text('{"text": "a", "stars": 5, "meta": {"lang": "en"}}\n')
    (record,) = FileReader(path, "jsonl", ColumnMap(drop_extra=True))
    assert record.post is not None and record.post["meta"] == {"lang": "en"}


def test_label_map_ranges_values_and_canonical_names() -> None:
    stars = LabelMap.parse(STARS)
    assert [stars.sentiment(v) for v in ("1", 2, "3", 4.0, " 5 ")] == [
        "negative",
        "negative",
        "neutral",
        "positive",
        "positive",
    ]
    assert stars.sentiment("") is None and stars.sentiment(None) is None
    with pytest.raises(ValueError, match=r"label '7' has no entry in --label-map"):
        stars.sentiment("7")
    words = LabelMap.parse("bad:negative, ok:neutral, great:positive")
    assert words.sentiment("Great") == "positive"
    plain = LabelMap.parse(None)
    assert plain.sentiment("Positive") == "positive"
    with pytest.raises(ValueError, match=r"label 'meh' is not one of negative, neutral"):
        plain.sentiment("meh")
    with pytest.raises(ValidationFailed, match=r"entry '1-2:bad' is not VALUES:LABEL") as caught:
        LabelMap.parse("1-2:bad")
    assert caught.value.field == "label_map"


async def _import(
    settings: Settings, path: Path, columns: ColumnMap, shaping: Shaping
) -> tuple[ImportResult, list[Any], list[Any]]:
    async with feed(settings) as fed:
        result = await import_posts(
            fed.broker,
            path,
            "csv",
            columns,
            shaping=shaping,
            store=fed.store,
            progress=False,
            drain=fed.drain,
        )
        async with fed.store.engine.connect() as conn:
            stored = list((await conn.execute(select(posts).order_by(posts.c.external_id))).all())
            imported = list((await conn.execute(select(import_labels))).all())
            assert (await conn.execute(select(labels))).all() == []  # no reviewer's correction
    return result, stored, imported


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


async def test_an_unreadable_date_rejects_the_row_naming_line_and_value(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "dates.csv"
    _write(
        path,
        [
            {"id": "1", "text": "fine", "when": "5/25/2019 15:54", "stars": "5"},
            {"id": "2", "text": "odd date", "when": "soonish", "stars": "1"},
            {"id": "3", "text": "odd stars", "when": "5/26/2019 15:54", "stars": "9"},
        ],
    )
    columns = ColumnMap(created_at="when", label="stars")
    shaping = Shaping(labels=LabelMap.parse(STARS))
    result, stored, imported = await _import(settings, path, columns, shaping)
    assert result.accepted == 1 and result.rows == 3
    assert result.rejected[0][0] == 3
    assert result.rejected[0][1].startswith("when: cannot read 'soonish' as a date;")
    assert result.rejected[1] == (4, "stars: label '9' has no entry in --label-map; add one")
    assert [r.external_id for r in stored] == ["1"]
    assert stored[0].created_at.replace(tzinfo=UTC) == datetime(2019, 5, 25, 15, 54, tzinfo=UTC)
    assert [(r.post_id, r.source, r.sentiment) for r in imported] == [
        (stored[0].id, "import:dates.csv", "positive")
    ]


async def test_date_fallback_now_keeps_the_row(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "dates.csv"
    _write(path, [{"id": "1", "text": "odd date", "when": "soonish"}])
    before = datetime.now(UTC)
    result, stored, _ = await _import(
        settings, path, ColumnMap(created_at="when"), Shaping(fallback_now=True)
    )
    assert result.accepted == 1 and result.rejected == []
    stored_at = stored[0].created_at.replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= stored_at <= datetime.now(UTC)


async def test_extra_columns_past_metas_limit_are_refused_clearly(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    _write(
        path,
        [
            {"text": "small", "note": "x"},
            {"text": "large", "note": "y" * 5_000},
        ],
    )
    result, stored, _ = await _import(settings, path, ColumnMap(), Shaping())
    assert result.accepted == 1
    (line, reason) = result.rejected[0]
    assert line == 3
    assert reason.startswith("meta: the extra columns take 5,")
    assert "(largest: note); pass --drop-extra" in reason
    assert orjson.loads(orjson.dumps(stored[0].meta)) == {"note": "x"}


async def test_a_files_day_first_dates_are_learnt(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    _write(
        path,
        [
            {"id": "1", "text": "early", "when": "05.06.2019 10:00"},
            {"id": "2", "text": "late", "when": "25.06.2019 10:00"},
        ],
    )
    result, stored, _ = await _import(
        settings, path, ColumnMap(created_at="when"), Shaping(dates=DateReader())
    )
    assert result.accepted == 2
    assert stored[0].created_at.replace(tzinfo=UTC) == datetime(2019, 6, 5, 10, tzinfo=UTC)


def test_a_large_file_is_not_read_twice_and_the_bar_runs_on_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "reviews.csv"
    write_reviews(path, 40)
    monkeypatch.setattr("sentiflow.ingest.files.COUNT_LIMIT", 100)
    assert count_records(path, "csv") is None
    reader = FileReader(path, "csv", REVIEWS)
    seen = []
    for _ in reader:
        seen.append(reader.bytes_read)
    assert len(seen) == 40
    assert seen == sorted(seen) and seen[-1] == reader.size == path.stat().st_size
