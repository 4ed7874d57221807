"""The CLI as a user runs it: `sentiflow analyze` and `sentiflow import` in subprocesses."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SENTIFLOW = [sys.executable, "-m", "sentiflow"]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENTIFLOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120"}
    return subprocess.run(
        SENTIFLOW + args,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    result = run(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("sentiflow ")


def test_analyze_file_keeps_one_line_per_input_in_order(tmp_path: Path) -> None:
    src = tmp_path / "posts.jsonl"
    lines = []
    for i in range(10_000):
        text = "I love this, best day ever!" if i % 2 else "This is awful, I hate it."
        lines.append(json.dumps({"id": f"p{i}", "text": text}))
    lines[5] = "just a plain line of text"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = run(["analyze", "-i", str(src), "-o", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "10000/10000" in result.stderr.replace(",", "") or "100%" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10_000
    assert rows[0]["id"] == "p0" and rows[5]["id"] == 6 and rows[9_999]["id"] == "p9999"
    assert rows[1]["sentiment"] == "positive"
    assert rows[2]["sentiment"] == "negative"
    assert set(rows[0]) == {
        "id",
        "sentiment",
        "sentiment_confidence",
        "emotion",
        "emotion_confidence",
        "polarity",
        "model_version",
    }


def test_analyze_texts_to_stdout(tmp_path: Path) -> None:
    result = run(["analyze", "what a wonderful surprise", "terrible service"], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, 2]
    assert [r["sentiment"] for r in rows] == ["positive", "negative"]


def test_analyze_unknown_model_says_what_to_do(tmp_path: Path) -> None:
    result = run(["analyze", "--model", "nope", "hi"], tmp_path)
    assert result.returncode == 1
    assert "unknown analyzer 'nope'" in result.stderr


def list_posts(tmp_path: Path) -> list[dict[str, object]]:
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "sentiflow.db")
    rows = db.execute(
        "SELECT p.external_id, p.source, a.sentiment FROM posts p JOIN analyses a ON a.post_id = p.id"
    ).fetchall()
    return [{"external_id": r[0], "source": r[1], "sentiment": r[2]} for r in rows]


def test_import_csv_reports_rejected_lines_and_stores_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    with src.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "body", "date"])
        writer.writerow(["r1", "Great product, works perfectly", "2026-01-02T10:00:00Z"])
        writer.writerow(["r2", "", "2026-01-02T10:00:00Z"])
        writer.writerow(["r3", "Broke after a day, very disappointed", "not a date"])
        writer.writerow(["r4", "Terrible support, never again", "2026-01-03"])
    result = run(
        [
            "import",
            str(src),
            "--text-column",
            "body",
            "--id-column",
            "review_id",
            "--created-column",
            "date",
            "--source",
            "shop",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "2 accepted" in result.stderr and "2 rejected" in result.stderr
    assert "line 3:" in result.stderr and "text" in result.stderr
    assert "line 4: date: cannot read 'not a date' as a date; pass --date-format" in result.stderr
    stored = {p["external_id"]: p for p in list_posts(tmp_path)}
    assert set(stored) == {"r1", "r4"}
    assert stored["r1"]["source"] == "shop"
    assert stored["r4"]["sentiment"] == "negative"


def test_import_jsonl_and_parquet(tmp_path: Path) -> None:
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(
        '{"id": "j1", "text": "happy happy joy", "source": "feed"}\n{broken\n'
        '{"id": "j2", "text": "so sad today", "source": "feed"}\n'
    )
    result = run(["import", str(jsonl)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 accepted" in result.stderr and "line 2: not valid JSON" in result.stderr

    parquet = tmp_path / "posts.parquet"
    table = pa.table({"id": ["q1", "q2"], "text": ["lovely", "awful"], "author": ["a", None]})
    pq.write_table(table, parquet)
    result = run(["import", str(parquet), "--source", "pq"], tmp_path)
    assert result.returncode == 0, result.stderr
    ids = {p["external_id"] for p in list_posts(tmp_path)}
    assert ids == {"j1", "j2", "q1", "q2"}


def test_seed_writes_posts_with_their_rollups(tmp_path: Path) -> None:
    import sqlite3

    result = run(["seed", "--posts", "3000", "--days", "1", "--seed", "7"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3,000 posts" in result.stderr
    db = sqlite3.connect(tmp_path / "data" / "sentiflow.db")
    try:
        posts = db.execute("SELECT count(*) FROM posts").fetchone()[0]
        counted = [db.execute(f"SELECT sum(count) FROM {t}").fetchone()[0]
                   for t in ("rollups", "rollups_hour", "rollups_day")]  # fmt: skip
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        db.close()
    assert posts == 3000
    assert counted == [3000, 3000, 3000]
    assert {"ix_posts_created", "ix_urgent_rank"} <= indexes


URLS = {
    "SENTIFLOW_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/never",
    "SENTIFLOW_REDIS_URL": "redis://127.0.0.1:1/0",
}


@pytest.mark.parametrize("command", ["api", "worker", "run"])
@pytest.mark.parametrize("given", sorted(URLS))
def test_one_url_without_the_other_exits_naming_the_missing_one(
    tmp_path: Path, command: str, given: str
) -> None:
    """Distributed mode needs both URLs: with one alone a server refuses to start, before it
    connects anywhere, and says which variable is missing."""
    env = {k: v for k, v in os.environ.items() if k not in URLS}
    env.update({"SENTIFLOW_DATA_DIR": str(tmp_path / "data"), given: URLS[given]})
    result = subprocess.run(
        [*SENTIFLOW, command], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    missing = next(name for name in URLS if name != given)
    assert result.returncode == 1, result.stderr
    assert f"{missing} is not" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_tables_keep_small_ratios_readable(capsys: pytest.CaptureFixture[str]) -> None:
    from sentiflow.cli.helpers import report

    report(
        {"bench": "analyzers", "fast_texts_per_s": 21704.94, "accurate_vs_lexicon": 0.0131}, True
    )
    shown = capsys.readouterr()
    assert "21,704.9" in shown.err and "0.0131" in shown.err
    assert json.loads(shown.out)["accurate_vs_lexicon"] == 0.0131
