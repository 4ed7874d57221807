"""Plug-in name tables, as datasette's `DEFAULT_PLUGINS`: a registry maps a name to a
"module:attribute" reference and imports it only when the name is first used, so listing names
imports nothing and no plug-in module needs to import its registry. Third-party plug-ins come
through an entry-point group of the same shape."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any


def load(reference: str) -> Any:
    """The object a "module:attribute" reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def table(builtin: Mapping[str, str], group: str) -> dict[str, str]:
    """`builtin` names with the installed entry points of `group` (a built-in name wins)."""
    found = {ep.name: ep.value for ep in entry_points(group=group)}
    return {**found, **builtin}
