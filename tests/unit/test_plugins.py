"""Plug-ins from another package: a tiny one is built and installed (into a directory of its
own, put on sys.path for the test only: .venv is never touched) with a strategy, a connector
and an analyzer in the entry-point groups; sentiflow lists them with their package, loads them
at start and uses each. A plug-in that cannot be imported stops the start, naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sentiflow import plugins
from sentiflow.analyze import registry as analyzers
from sentiflow.errors import ConfigError
from sentiflow.ingest.connectors import registry as connectors
from sentiflow.ranking import registry as strategies
from sentiflow.settings import Settings

PACKAGE = "sentiflow-tiny-plugin"

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "sentiflow-tiny-plugin"
version = "0.3.0"

[project.entry-points."sentiflow.strategies"]
shortest-first = "tiny_plugin:ShortestFirst"

[project.entry-points."sentiflow.connectors"]
countdown = "tiny_plugin:Countdown"

[project.entry-points."sentiflow.analyzers"]
shouty = "tiny_plugin:Shouty"

[tool.setuptools]
py-modules = ["tiny_plugin"]
"""

MODULE = '''
"""A tiny sentiflow plug-in: one strategy, one connector, one analyzer."""

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel

from sentiflow.ingest.connectors.base import Page
from sentiflow.models import Analysis, PostIn


class ShortestFirst:
    name = "shortest-first"
    doc = "Minus the text's length: the shortest posts first."
    uses_analyses = False
    uses_signals = False

    def score(self, items, analyses, signals, options):
        return [-float(len(item.text)) for item in items]


class CountdownConfig(BaseModel):
    start: int = 3


class Countdown:
    kind: ClassVar[str] = "countdown"
    Config: ClassVar[type[BaseModel]] = CountdownConfig

    def __init__(self, name, config, settings):
        self.name = name
        self.config = config

    async def fetch(self, cursor):
        left = int(cursor.get("left", self.config.start))
        while left > 0:
            post = PostIn(source=self.name, external_id=str(left), text=f"{left} to go")
            left -= 1
            yield Page([post], {"left": left})

    async def close(self):
        pass


class Shouty:
    """Texts in capitals are angry; the rest are calm."""

    name = "shouty"
    version = "shouty-1"

    def __init__(self, settings):
        self.settings = settings

    def analyze(self, texts):
        out = []
        for text in texts:
            loud = text.isupper()
            sentiment = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
            calm = {"negative": 0.05, "neutral": 0.9, "positive": 0.05}
            emotions = {"anger": 0.8, "neutral": 0.2} if loud else {"neutral": 1.0}
            out.append(
                Analysis.from_probs(
                    sentiment if loud else calm,
                    emotions,
                    model_version=self.version,
                    analyzed_at=datetime.now(UTC),
                )
            )
        return out

    def close(self):
        pass
'''


def _forget() -> None:
    """The registries cache what the entry points said: make them read again."""
    strategies._table.cache_clear()
    strategies._loaded.cache_clear()
    connectors._kinds.cache_clear()
    connectors.factory_for.cache_clear()
    analyzers.installed.cache_clear()


def build_and_install(tmp_path: Path, name: str, pyproject: str, module: str) -> Path:
    """`uv pip install --target` of the package made from these files: its own directory."""
    source = tmp_path / f"{name}-src"
    (source).mkdir()
    (source / "pyproject.toml").write_text(pyproject)
    (source / "tiny_plugin.py").write_text(textwrap.dedent(module))
    site = tmp_path / f"{name}-site"
    uv = Path(sys.executable).with_name("uv")
    install = ["pip", "install", "--quiet", "--python", sys.executable, "--target", str(site)]
    subprocess.run(
        [str(uv), *install, "--no-deps", "--no-build-isolation", "--offline", str(source)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return site


@pytest.fixture
def tiny_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = build_and_install(tmp_path, "tiny", PYPROJECT, MODULE)
    monkeypatch.syspath_prepend(str(site))
    _forget()
    yield site
    sys.modules.pop("tiny_plugin", None)
    monkeypatch.undo()
    _forget()


def test_sentiflow_plugins_lists_them_with_their_package(tiny_plugin: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tiny_plugin), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "sentiflow", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    listed = {(p["kind"], p["name"]): p for p in json.loads(done.stdout)}
    for kind, name in [("strategy", "shortest-first"), ("connector", "countdown")]:
        assert listed[kind, name]["package"] == f"{PACKAGE} 0.3.0"
    assert listed["analyzer", "shouty"]["reference"] == "tiny_plugin:Shouty"
    assert listed["strategy", "urgency"]["package"] == "sentiflow (built-in)"


async def test_each_kind_of_plugin_is_loaded_at_start_and_used(
    tiny_plugin: Path, tmp_path: Path
) -> None:
    from sentiflow.api import create_app

    assert {p.name for p in plugins.installed()} >= {"shortest-first", "countdown", "shouty"}

    settings = Settings(
        data_dir=tmp_path / "data", demo_rate=0, analyzer_processes=0, signals_interval_s=0
    )
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        assert "tiny_plugin" in sys.modules  # loaded at start, before any request
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            listed = (await client.get("/api/rank/strategies")).json()
            assert "shortest-first" in {s["name"] for s in listed}
            items = [{"id": "long", "text": "a rather long post"}, {"id": "short", "text": "hi"}]
            answer = await client.post(
                "/api/rank", json={"items": items, "strategy": "shortest-first"}
            )
            assert answer.json()["ranked_ids"] == ["short", "long"]
            labelled = await client.post(
                "/api/analyze", json={"texts": ["STOP THIS NOW"], "model": "shouty"}
            )
            assert labelled.status_code == 200, labelled.text
            assert labelled.json()["results"][0]["sentiment"] == "negative"

    connector = connectors.build("countdown", "cd", {"start": 2}, settings)
    pages = [page async for page in connector.fetch({})]
    assert [(p.posts[0].text, p.cursor) for p in pages] == [
        ("2 to go", {"left": 1}),
        ("1 to go", {"left": 0}),
    ]
    assert [p async for p in connector.fetch({"left": 0})] == []

    shouty = analyzers.build_analyzer("shouty", settings)
    loud, calm = shouty.analyze(["STOP THIS NOW", "fine thanks"])
    assert (loud.sentiment, loud.emotion, calm.sentiment) == ("negative", "anger", "neutral")
    assert "shouty" in analyzers.names()


async def test_a_broken_plugin_stops_the_start_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentiflow.api import create_app

    broken = PYPROJECT.replace("sentiflow-tiny-plugin", "sentiflow-broken-plugin")
    site = build_and_install(tmp_path, "broken", broken, "import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(site))
    _forget()
    try:
        settings = Settings(data_dir=tmp_path / "data", demo_rate=0, analyzer_processes=0)
        app = create_app(settings, worker=False)
        with pytest.raises(ConfigError, match=r"sentiflow-broken-plugin 0\.3\.0") as caught:
            async with app.router.lifespan_context(app):
                pass
        assert "uninstall sentiflow-broken-plugin" in caught.value.message
    finally:
        sys.modules.pop("tiny_plugin", None)
        monkeypatch.undo()
        _forget()
