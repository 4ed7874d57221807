"""Ranking strategies by name: the built-in ones as a name table imported on first use, the
`sentiflow.strategies` entry points of other packages, and strategies registered at run time
(an application embedding sentiflow, a test)."""

from __future__ import annotations

from functools import cache
from typing import Final

from sentiflow import plugins
from sentiflow.errors import ValidationFailed
from sentiflow.ranking.base import Strategy

BUILTIN: Final = {
    "urgency": "sentiflow.ranking.strategies:Urgency",
    "calm": "sentiflow.ranking.strategies:Calm",
    "trending": "sentiflow.ranking.strategies:Trending",
    "fresh-entities": "sentiflow.ranking.strategies:FreshEntities",
    "chronological": "sentiflow.ranking.strategies:Chronological",
}
_registered: dict[str, Strategy] = {}


@cache
def _table() -> dict[str, str]:
    return plugins.table(BUILTIN, "sentiflow.strategies")


@cache
def _loaded(name: str) -> Strategy:
    """One instance per strategy class named in the table."""
    strategy: Strategy = plugins.load(_table()[name])()
    return strategy


def register(strategy: Strategy) -> Strategy:
    """Make `strategy` available by its name in this process."""
    _registered[strategy.name] = strategy
    return strategy


def unregister(name: str) -> None:
    _registered.pop(name, None)


def names() -> list[str]:
    return [*_table(), *(n for n in _registered if n not in _table())]


def all_strategies() -> list[Strategy]:
    return [get_strategy(name) for name in names()]


def get_strategy(name: str) -> Strategy:
    if name in _registered:
        return _registered[name]
    if name in _table():
        return _loaded(name)
    known = ", ".join(sorted(names()))
    raise ValidationFailed(f"unknown strategy {name!r}; choose one of: {known}", field="strategy")
