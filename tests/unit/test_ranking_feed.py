"""Parsing a feed: the column-at-a-time path builds exactly what the item-by-item path builds,
and leaves every feed it does not accept to it (which names the field)."""

from __future__ import annotations

from typing import Any

import pytest

from sentiflow.errors import ValidationFailed
from sentiflow.ranking import feed as feed_module
from sentiflow.ranking.feed import parse_feed


def item_by_item(monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(feed_module, "_well_formed", lambda raw_items: None)
        return parse_feed(body, default_strategy="calm")


GOOD = [
    {"id": "a", "text": "  plain ascii  "},
    {"id": "b", "text": "Cafe\u0301 \u00e9t\u00e9 \U0001f600", "source": " reddit "},
    {"id": "c", "text": "tab\tand\nnewline\x7f", "source": "   ", "author": "ana"},
    {"id": "d", "text": "dated", "created_at": "2026-01-31T12:00:00", "meta": {"k": 1}},
    {"id": "e", "text": "zoned", "created_at": "2026-01-31T12:00:00+02:00", "meta": {}},
]


@pytest.mark.parametrize("count", [1, len(GOOD)])
def test_columns_build_what_items_build(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    body: dict[str, Any] = {"items": GOOD[:count], "strategy": "urgency"}
    fast = parse_feed(body, default_strategy="calm")
    assert feed_module._well_formed(body["items"]) is not None
    slow = item_by_item(monkeypatch, body)
    assert [dict(vars_of(i)) for i in fast.items] == [dict(vars_of(i)) for i in slow.items]


def vars_of(item: Any) -> dict[str, Any]:
    return {
        name: getattr(item, name) for name in ("id", "text", "source", "author", "created_at")
    } | {"meta": dict(item.meta)}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"id": "x", "text": "t", "colour": "red"}, "items.1.colour"),
        ({"id": "", "text": "t"}, "items.1.id"),
        ({"id": "a", "text": "t"}, "items.1.id"),  # twice
        ({"id": "x", "text": 5}, "items.1.text"),
        ({"id": "x", "text": " \x00 "}, "items.1.text"),
        ({"id": "x", "text": "t", "source": "s" * 101}, "items.1.source"),
        ({"id": "x", "text": "t", "author": 7}, "items.1.author"),
        ({"id": "x", "text": "t", "created_at": "soon"}, "items.1.created_at"),
        ({"id": "x", "text": "t", "meta": []}, "items.1.meta"),
        (["not", "an", "object"], "items.1"),
    ],
)
def test_bad_items_are_named_by_the_item_path(bad: Any, field: str) -> None:
    items = [{"id": "a", "text": "fine"}, bad]
    assert feed_module._well_formed(items) is None
    with pytest.raises(ValidationFailed) as raised:
        parse_feed({"items": items}, default_strategy="calm")
    assert raised.value.field == field


def test_integer_ids_become_strings() -> None:
    parsed = parse_feed({"items": [{"id": 7, "text": "t"}]}, default_strategy="calm")
    assert parsed.items[0].id == "7"
