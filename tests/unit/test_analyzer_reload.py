"""A running analyzer pool picks up a newly promoted version between batches, and keeps the
old one when the promoted version cannot be loaded."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from sentiflow.analyze import registry
from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.analyze.reload import pointer_path
from sentiflow.errors import ConfigError
from sentiflow.models import Analysis
from sentiflow.settings import Settings


class Versioned:
    """The lexicon model under the version the pointer file names (like a trained backend)."""

    name = "versioned"

    def __init__(self, version: str) -> None:
        self.version = version
        self._lexicon = LexiconAnalyzer()

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        return [replace(a, model_version=self.version) for a in self._lexicon.analyze(texts)]

    def close(self) -> None:
        self._lexicon.close()


def build(settings: Settings) -> Versioned:
    pointer = pointer_path("versioned", settings)
    version = pointer.read_text().strip() if pointer.is_file() else "v0"
    if version == "broken":
        raise ConfigError("version broken has no model file")
    return Versioned(version)


def promote(pointer: Path, version: str) -> None:
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(version)
    os.replace(tmp, pointer)


async def test_pool_follows_promotions(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BACKENDS, "versioned", build)
    pool = AnalyzerPool(settings, name="versioned", processes=0)
    try:
        assert (await pool.analyze(["good"]))[0].model_version == "v0"
        pointer = pointer_path("versioned", settings)
        promote(pointer, "v1")
        assert (await pool.analyze(["good"]))[0].model_version == "v1"
        promote(pointer, "broken")
        assert (await pool.analyze(["good"]))[0].model_version == "v1"
        promote(pointer, "v2")
        assert (await pool.analyze(["good"]))[0].model_version == "v2"
    finally:
        pool.close()
