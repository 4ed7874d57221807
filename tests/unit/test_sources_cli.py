"""`sentiflow sources …` and `sentiflow jobs list` end to end in embedded mode, and
SENTIFLOW_SOURCES pointing the embedded app at a feed that its scheduler then polls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from sentiflow.api import create_app
from sentiflow.cli import app
from sentiflow.ingest.connectors.registry import parse_spec
from sentiflow.settings import Settings
from tests.conftest import wait_for

FEED = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<id>urn:t</id><updated>2026-11-24T00:00:00Z</updated>
<entry><id>urn:e1</id><title>Happy customers everywhere</title>
<updated>2026-11-24T00:00:00Z</updated>
<summary>Loving it</summary></entry>
<entry><id>urn:e2</id><title>Broken again</title><updated>2026-11-24T00:01:00Z</updated>
<summary>So frustrating</summary></entry></feed>"""


@pytest.fixture
def feed_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml")
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/atom.xml"
    server.shutdown()
    server.server_close()


def test_sources_and_jobs_commands(tmp_path: Path) -> None:
    data = tmp_path / "posts.jsonl"
    data.write_text(
        "\n".join(
            orjson.dumps({"id": str(i), "text": f"replayed post {i}"}).decode() for i in range(5)
        )
    )
    env = {
        "SENTIFLOW_DATA_DIR": str(tmp_path / "data"),
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
        "SENTIFLOW_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    spec = orjson.dumps(
        {"kind": "simulator", "name": "replay", "file": str(data), "loop": False, "rate": 1000}
    ).decode()
    added = runner.invoke(app, ["sources", "add", spec, "--interval", "30"], env=env)
    assert added.exit_code == 0, added.output
    assert "replay" in added.output and "added" in added.output
    ran = runner.invoke(app, ["sources", "run", "replay"], env=env)
    assert ran.exit_code == 0, ran.output
    assert "5 new posts" in ran.output
    again = runner.invoke(app, ["sources", "run", "replay"], env=env)
    assert "0 new posts" in again.output
    listed = runner.invoke(app, ["sources", "list"], env=env)
    assert listed.exit_code == 0 and "replay" in listed.output and "simulator" in listed.output
    jobs = runner.invoke(app, ["jobs", "list"], env=env)
    assert jobs.exit_code == 0 and "scheduled jobs" in jobs.output
    assert runner.invoke(app, ["sources", "remove", "replay"], env=env).exit_code == 0
    gone = runner.invoke(app, ["sources", "remove", "replay"], env=env)
    assert gone.exit_code == 1 and "no source named" in gone.output
    bad = runner.invoke(app, ["sources", "add", "myspace:tom"], env=env)
    assert bad.exit_code == 1 and "unknown kind" in bad.output


def test_source_specs() -> None:
    assert parse_spec("reddit:r/python+r/rust").config["subreddits"] == ["python", "rust"]
    assert parse_spec("reddit:r/python").name == "reddit-python"
    assert parse_spec("reddit:search:fast api").config["query"] == "fast api"
    feed = parse_spec("rss:https://example.com/feed.xml")
    assert (feed.kind, feed.name) == ("feed", "feed-example-com-feed-xml")
    assert parse_spec("simulator").kind == "simulator"


async def test_sources_setting_points_the_app_at_a_feed(tmp_path: Path, feed_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        demo_rate=0,
        analyzer_processes=0,
        sources=[f"atom:{feed_url}"],
        source_interval_s=1,
    )
    application = create_app(settings, worker=True)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def polled() -> bool:
                # The posts land before the source's tally is saved with its cursor.
                page = (await client.get("/api/posts")).json()
                tallied = (await client.get("/api/sources")).json()
                return len(page["items"]) == 2 and tallied[0]["total_fetched"] == 2

            await wait_for(polled, timeout=20)
            sources = (await client.get("/api/sources")).json()
    assert [s["kind"] for s in sources] == ["feed"]
    assert sources[0]["total_fetched"] == 2
