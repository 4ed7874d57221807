"""Connector kinds by name, and the one-line source specs of `SENTIFLOW_SOURCES` and the CLI
(`rss:https://…`, `reddit:r/python`, `json:{…}`, `simulator`) turned into named sources.

A kind names a connector class, `Cls(name, config, settings)` with `Cls.Config` its pydantic
schema, imported when the kind is first used (a reddit source imports asyncpraw, listing kinds
does not). Other packages add kinds through the `sentiflow.connectors` entry points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, cast

import orjson
from pydantic import ValidationError

from sentiflow import plugins
from sentiflow.errors import ConfigError, ValidationFailed
from sentiflow.ingest.connectors.base import Connector
from sentiflow.settings import Settings

BUILTIN: Final = {
    "feed": "sentiflow.ingest.connectors.feeds:FeedConnector",
    "json": "sentiflow.ingest.connectors.feeds:JsonConnector",
    "reddit": "sentiflow.ingest.connectors.reddit:RedditConnector",
    "simulator": "sentiflow.ingest.connectors.simulator:SimulatorConnector",
}
# Spec prefixes that are another name for a kind.
_ALIASES = {"rss": "feed", "atom": "feed", "replay": "simulator"}


@cache
def _kinds() -> dict[str, str]:
    return plugins.table(BUILTIN, "sentiflow.connectors")


def kinds() -> dict[str, type[Any]]:
    """Every kind with its connector class (this imports them all)."""
    return {kind: factory_for(kind) for kind in _kinds()}


@cache
def factory_for(kind: str) -> type[Any]:
    reference = _kinds().get(kind)
    if reference is None:
        raise ValidationFailed(
            f"no connector kind {kind!r}; known kinds: {', '.join(sorted(_kinds()))}", field="kind"
        )
    factory: type[Any] = plugins.load(reference)
    return factory


def validate_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config checked against the kind's schema, with defaults filled in."""
    factory = factory_for(kind)
    try:
        return cast(dict[str, Any], factory.Config.model_validate(config).model_dump(mode="json"))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise ValidationFailed(f"{kind} source: {where}: {err['msg']}", field=where) from None


def build(kind: str, name: str, config: dict[str, Any], settings: Settings) -> Connector:
    factory = factory_for(kind)
    return cast(Connector, factory(name, factory.Config.model_validate(config), settings))


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    kind: str
    config: dict[str, Any]
    interval_s: float | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "source"


def parse_spec(spec: str) -> SourceSpec:
    """`kind:target`, or a JSON object with `kind` (and `name`, `interval_s`, config keys)."""
    spec = spec.strip()
    if spec.startswith("{"):
        return _json_spec(spec)
    prefix, _, target = spec.partition(":")
    kind = _ALIASES.get(prefix, prefix)
    if kind == "feed" or kind == "json":
        if not target.startswith(("http://", "https://")):
            raise ConfigError(f"source spec {spec!r}: write {prefix}:https://… with the feed URL")
        config: dict[str, Any] = {"url": target}
        name = f"{kind}-{_slug(target.split('://', 1)[1])}"
    elif kind == "reddit":
        name, config = _reddit_spec(spec, target)
    elif kind == "simulator":
        config = {"file": target} if prefix == "replay" and target else {}
        name = f"simulator-{_slug(target)}" if target else "simulator"
    else:
        raise ConfigError(
            f"source spec {spec!r}: unknown kind {prefix!r}; use rss:, atom:, json:, reddit:, "
            "simulator or replay:"
        )
    try:
        return SourceSpec(name, kind, validate_config(kind, config))
    except ValidationFailed as exc:
        raise ConfigError(f"source spec {spec!r}: {exc.message}") from None


def _json_spec(spec: str) -> SourceSpec:
    try:
        raw = orjson.loads(spec)
    except orjson.JSONDecodeError:
        raise ConfigError(f"source spec {spec[:60]!r} is not valid JSON") from None
    given = str(raw.pop("kind", ""))
    kind = _ALIASES.get(given, given)
    if not kind:
        raise ConfigError(f'source spec {spec[:60]!r} has no "kind"')
    name = str(raw.pop("name", "") or f"{kind}-{_slug(str(raw.get('url', kind)))}")
    interval = raw.pop("interval_s", None)
    return SourceSpec(name, kind, validate_config(kind, raw), interval)


def _reddit_spec(spec: str, target: str) -> tuple[str, dict[str, Any]]:
    """`reddit:search:WORDS` or `reddit:r/A+r/B`: the source's name and config."""
    if target.startswith("search:"):
        query = target.removeprefix("search:")
        return f"reddit-search-{_slug(query)}", {"query": query}
    subs = [s.strip().removeprefix("r/") for s in target.split("+") if s.strip()]
    if not subs:
        raise ConfigError(f"source spec {spec!r}: write reddit:r/NAME or reddit:search:WORDS")
    return f"reddit-{_slug('-'.join(subs))}", {"subreddits": subs}
