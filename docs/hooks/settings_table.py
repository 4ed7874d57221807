"""MkDocs hook: the configuration page's tables, made from `Settings` at build time.

Every variable, default, allowed value and meaning comes from the settings class the code
reads, so the page cannot drift from it. Fields are grouped by name (`GROUPS`); a field no
group claims is listed under "General", never dropped.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from sentiflow.settings import Settings

MARKER = "<!-- settings -->"
PAGE = "configuration.md"

# (title, the page that explains them, names): a name ending in "_" is a prefix, others exact.
GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    ("General", "", ()),
    (
        "Mode and connections",
        "[Distributed mode](distributed.md)",
        ("database_url", "redis_url", "redis_", "health_"),
    ),
    (
        "Queue and workers",
        "[Distributed mode](distributed.md)",
        (
            "batch_size",
            "queue_max",
            "analyzer_processes",
            "max_deliveries",
            "visibility_timeout_s",
            "worker_",
            "metrics_",
        ),
    ),
    (
        "Analyzers",
        "[Analyzers](analyzers.md)",
        ("analyzer", "auto_", "language_id", "fallback_", "hf_", "device", "accurate_", "llm_"),
    ),
    (
        "Sources, search jobs and the scheduler",
        "[Sources, search jobs and the scheduler](sources.md)",
        ("sources", "source_", "reddit_", "scheduler", "scheduler_", "search_"),
    ),
    ("Live feed and dashboard", "[Dashboard and live feed](dashboard.md)", ("live_",)),
    ("Analytics", "[Analytics](analytics.md)", ("cache_", "trends_", "alert_")),
    ("Ranking", "[Ranking](ranking.md)", ("rank_", "signals_")),
    (
        "Network safety",
        "[Security](security.md)",
        (
            "session_",
            "cors_",
            "rate_limit",
            "rate_limit_",
            "max_body_",
            "max_url_",
            "max_header_",
            "ws_max_",
        ),
    ),
    (
        "Keys, review and datasets",
        "[Security](security.md) and [Feedback](feedback.md)",
        ("auth", "reads_need_key", "bootstrap_", "snapshot_", "review_"),
    ),
]


def _claims(names: tuple[str, ...], field: str) -> bool:
    return any(field.startswith(n) if n.endswith("_") else field == n for n in names)


def group_of(field: str) -> str:
    for title, _see, names in GROUPS[1:]:
        if _claims(names, field):
            return title
    return GROUPS[0][0]


def variables(
    model: type[BaseModel] = Settings, prefix: str | None = None
) -> Iterator[tuple[str, str, FieldInfo]]:
    """(environment variable, field name, field) of every setting, nested models included."""
    config = getattr(model, "model_config", {})
    env_prefix = prefix if prefix is not None else config.get("env_prefix", "")
    delimiter = Settings.model_config.get("env_nested_delimiter") or "__"
    for name, field in model.model_fields.items():
        alias = field.validation_alias or field.alias
        env = alias.upper() if isinstance(alias, str) else f"{env_prefix}{name}".upper()
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            yield from variables(nested, f"{env}{delimiter}")
        else:
            yield env, name, field


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def default_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    shown = _show(field.get_default(call_default_factory=True))
    return shown if shown == "unset" else f"`{shown}`"


def _kind(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if origin is list:
        return "JSON list"
    if origin is dict:
        return "JSON object"
    kinds = {bool: "true / false", int: "integer", float: "number", str: "text", Path: "path"}
    if annotation is SecretStr:
        return "secret"
    return kinds.get(annotation, str(annotation))


def values_of(field: FieldInfo) -> str:
    """What the variable accepts: its kind and its bounds."""
    low = high = ""
    for rule in field.metadata:
        if isinstance(rule, Ge):
            low = f"≥ {rule.ge}"
        elif isinstance(rule, Gt):
            low = f"> {rule.gt}"
        elif isinstance(rule, Le):
            high = f"≤ {rule.le}"
        elif isinstance(rule, Lt):
            high = f"< {rule.lt}"
    kind = _kind(field.annotation)
    if low.startswith("≥") and high.startswith("≤"):
        return f"{kind}, {low[2:]} to {high[2:]}"
    return " ".join(part for part in (kind, low, high) if part)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The tables, one per group, in the order of `GROUPS`."""
    rows: dict[str, list[str]] = {title: [] for title, _see, _names in GROUPS}
    for env, name, field in variables():
        meaning = _cell(field.description or "")
        row = f"| `{env}` | {default_of(field)} | {values_of(field)} | {meaning} |"
        rows[group_of(name)].append(row)
    out = []
    for title, see, _names in GROUPS:
        if not rows[title]:
            continue
        out.append(f"## {title}\n")
        if see:
            out.append(f"More in {see}.\n")
        out.append("| variable | default | values | meaning |\n|---|---|---|---|")
        out.extend(rows[title])
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its {MARKER} line, where the settings go")
    return markdown.replace(MARKER, render())
