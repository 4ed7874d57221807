"""Validation and dedup rules of the canonical `PostIn` record, and `Analysis` pickling."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sentiflow.ingest.validate import explain, validate_posts
from sentiflow.models import Analysis, PostIn


def test_text_is_normalised() -> None:
    post = PostIn(source="s", text="  cafe\u0301\x00\x07 ok\n ")
    assert post.text == "café ok"


def test_length_limits_count_after_normalisation() -> None:
    assert len(PostIn(source="s", text="x" * 10_000 + "\x00" * 5).text) == 10_000
    with pytest.raises(ValidationError) as err:
        PostIn(source="s", text="x" * 10_001)
    assert explain(err.value)[0] == "text"
    with pytest.raises(ValidationError):
        PostIn(source="s", text="\x00\x01  ")


def test_created_at_defaults_to_now_and_is_utc() -> None:
    before = datetime.now(UTC)
    assert PostIn(source="s", text="t").created_at >= before
    post = PostIn.model_validate(
        {"source": "s", "text": "t", "created_at": "2026-03-01T10:00:00+02:00"}
    )
    assert post.created_at == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_dedup_key_uses_external_id_or_content_hash() -> None:
    a = PostIn(source="s", text="hello")
    b = PostIn(source="s", text="hello")
    c = PostIn(source="t", text="hello")
    assert a.id == b.id != c.id
    d = PostIn(source="s", external_id="42", text="one text")
    e = PostIn(source="s", external_id="42", text="edited text")
    assert d.id == e.id
    assert d.dedup_key == ("s", "42")


def test_rejections_name_field_and_remedy() -> None:
    items = [
        {"source": "s", "text": "fine"},
        "not an object",
        {"source": "s", "text": "t", "meta": {"blob": "x" * 5000}},
        {"source": "", "text": "t"},
    ]
    accepted, rejected = validate_posts(items)
    assert [i for i, _ in accepted] == [0]
    assert [(r.index, r.field) for r in rejected] == [(1, "body"), (2, "meta"), (3, "source")]
    assert "4096 bytes" in rejected[1].message


def test_analyses_survive_pickling() -> None:
    """Analyses cross from analyzer processes pickled (Analysis.__reduce__)."""
    analysis = Analysis(
        sentiment="negative",
        sentiment_confidence=0.8,
        sentiment_probs={"negative": 0.8, "neutral": 0.15, "positive": 0.05},
        polarity=-0.75,
        emotion="anger",
        emotion_confidence=0.6,
        emotion_probs={"anger": 0.6, "neutral": 0.4},
        model_version="v1",
        analyzed_at=datetime(2026, 1, 31, 12, tzinfo=UTC),
    )
    assert pickle.loads(pickle.dumps(analysis)) == analysis
