"""The promotion rule and the corrections split of retraining (the fitting itself is covered
end to end in tests/connected/test_feedback_e2e.py)."""

from __future__ import annotations

import pytest

from sentiflow.errors import NotFound
from sentiflow.feedback.retrain import HOLDOUT_EVERY, decide, is_holdout, read_corrections
from sentiflow.settings import Settings


def scores(base: float, corrections: float | None) -> dict[str, float | None]:
    combined = base if corrections is None else (base + corrections) / 2
    return {"base_macro_f1": base, "corrections_mean_accuracy": corrections, "combined": combined}


def test_better_on_corrections_without_forgetting_is_promoted() -> None:
    promoted, reason = decide(scores(0.60, 0.9), scores(0.61, 0.4), tolerance=0.02)
    assert promoted, reason


def test_forgetting_the_base_data_is_rejected() -> None:
    promoted, reason = decide(scores(0.50, 1.0), scores(0.61, 0.4), tolerance=0.02)
    assert not promoted and "base macro-F1 fell" in reason


def test_no_gain_is_rejected() -> None:
    promoted, reason = decide(scores(0.61, 0.4), scores(0.61, 0.4), tolerance=0.02)
    assert not promoted and "not above" in reason


def test_holdout_is_stable_and_about_one_in_five() -> None:
    ids = [f"post-{i}" for i in range(5_000)]
    held = [i for i in ids if is_holdout(i)]
    assert held == [i for i in ids if is_holdout(i)]
    assert abs(len(held) / len(ids) - 1 / HOLDOUT_EVERY) < 0.02


def test_unknown_dataset_says_where_to_look(settings: Settings) -> None:
    with pytest.raises(NotFound, match="sentiflow datasets list"):
        read_corrections(settings, "ds-nope")
