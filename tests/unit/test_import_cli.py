"""A review site's export imported and evaluated as a new user would: `sentiflow import` with
the file's own columns, then `sentiflow evaluate` of every tier on the file's star ratings; and
help screens without a `<type>` beside every option."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from sentiflow.analyze.compare import installed_tiers
from sentiflow.cli import app
from tests.unit.review_csv import Row, write_reviews
from tests.unit.test_cli import run

STARS = "1-2:negative,3:neutral,4-5:positive"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Row], str]:
    tmp_path = tmp_path_factory.mktemp("reviews")
    path = tmp_path / "reviews.csv"
    rows = write_reviews(path, 300)
    result = run(
        [
            "import",
            str(path),
            "--text-column",
            "Review",
            "--author-column",
            "Reviewer",
            "--created-column",
            "Time",
            "--topic-column",
            "Restaurant Name",
            "--label-column",
            "Rating",
            "--label-map",
            STARS,
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path, rows, result.stderr


def test_the_review_export_imports_row_for_row(
    imported: tuple[Path, list[Row], str],
) -> None:
    tmp_path, rows, stderr = imported
    non_empty = [r for r in rows if r.review]
    assert len(non_empty) == 270
    assert "270 accepted, 30 rejected of 300 rows from" in stderr
    assert "270 labelled" in stderr
    assert re.search(r"━ 300/300\b", stderr), stderr  # the bar ends at the number of rows
    assert "event=" not in stderr  # no log line through the bar
    assert "dates read month first, as '" in stderr
    db = sqlite3.connect(tmp_path / "data" / "sentiflow.db")
    stored = {
        text: (created_at, json.loads(meta))
        for text, created_at, meta in db.execute("SELECT text, created_at, meta FROM posts")
    }
    assert len(stored) == 270
    for row in non_empty:
        created_at, meta = stored[row.review]
        assert datetime.fromisoformat(created_at).replace(tzinfo=UTC) == row.at
        assert meta["Rating"] == str(row.rating)
        assert set(meta) == {"Rating", "Metadata", "Pictures"}
    (labelled,) = db.execute(
        "SELECT count(*) FROM import_labels WHERE source = 'import:reviews.csv'"
    ).fetchone()
    assert labelled == 270
    # The empty reviews are named by the line they start on.
    assert "line 15: text: text is empty after normalisation" in stderr


def test_evaluate_every_tier_and_vader_on_the_files_ratings(
    imported: tuple[Path, list[Row], str],
) -> None:
    tmp_path, _, _ = imported
    result = run(
        [
            "evaluate",
            "--data",
            str(tmp_path / "reviews.csv"),
            "--text-column",
            "Review",
            "--label-column",
            "Rating",
            "--label-map",
            STARS,
            "--json",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for heading in ("accuracy", "macro-F1", "macro-recall", "lexicon (VADER)"):
        assert heading in result.stderr
    assert "30 rows without a text or a label left out" in result.stderr
    body = json.loads(result.stdout.splitlines()[-1])
    assert [r["model"] for r in body["results"]] == [*installed_tiers(), "lexicon"]
    for scored in body["results"]:
        report = scored["tasks"]["sentiment"]
        assert report["n"] == 270
        assert 0.4 < report["accuracy"] <= 1.0
        assert 0.0 < report["macro_f1"] <= 1.0 and 0.0 < report["macro_recall"] <= 1.0


def test_evaluate_stored_posts_by_their_imported_labels(
    imported: tuple[Path, list[Row], str],
) -> None:
    tmp_path, _, _ = imported
    args = ["evaluate", "--stored", "--source", "import", "--model", "builtin-fast", "--json"]
    result = run(args, tmp_path)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout.splitlines()[-1])
    assert body["data"] == "stored:import"
    assert [r["tasks"]["sentiment"]["n"] for r in body["results"]] == [270, 270]
    missing = run(["evaluate", "--stored", "--source", "nowhere"], tmp_path)
    assert missing.returncode == 1
    assert "no stored post of source 'nowhere' has a human label" in missing.stderr
    unnamed = run(["evaluate", "--data", str(tmp_path / "reviews.csv")], tmp_path)
    assert unnamed.returncode == 2
    assert "name its label column with --label-column" in unnamed.stderr


def _commands(command: object, path: list[str]) -> list[list[str]]:
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found.extend(_commands(sub, [*path, name]))
    return found


def test_help_screens_show_types_only_where_they_help() -> None:
    runner = CliRunner()
    paths = _commands(typer.main.get_command(app), [])
    assert ["import"] in paths and ["db", "upgrade"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert not re.search(r"<(str|int|float|bool)>", result.output), (path, result.output)
    screen = runner.invoke(app, ["import", "--help"], env={"COLUMNS": "200"}).output
    assert "<reject|now>" in screen  # a choice's values help
    assert "--dayfirst" in screen and "--label-map" in screen
