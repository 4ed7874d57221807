"""Plug-in name tables, as datasette's `DEFAULT_PLUGINS`: a registry maps a name to a
"module:attribute" reference and imports it only when the name is first used, so listing names
imports nothing and no plug-in module needs to import its registry. Third-party plug-ins come
through the entry-point groups of `GROUPS`, each of the same shape; `load_installed` imports
them all at start, so a broken one stops the process with its name rather than fail a request.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from sentiflow.errors import ConfigError

# Entry-point group → what its plug-ins are.
GROUPS: Final = {
    "sentiflow.strategies": "strategy",
    "sentiflow.connectors": "connector",
    "sentiflow.analyzers": "analyzer",
}


@dataclass(frozen=True, slots=True)
class Plugin:
    group: str
    name: str
    reference: str  # "module:attribute"
    package: str  # the distribution that declares it, with its version


def load(reference: str) -> Any:
    """The object a "module:attribute" reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def table(builtin: Mapping[str, str], group: str) -> dict[str, str]:
    """`builtin` names with the installed entry points of `group` (a built-in name wins)."""
    found = {ep.name: ep.value for ep in entry_points(group=group)}
    return {**found, **builtin}


def _package(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "unknown package"


def installed() -> list[Plugin]:
    """Every plug-in other packages declare, group by group, by name."""
    return [
        Plugin(group, ep.name, ep.value, _package(ep))
        for group in GROUPS
        for ep in sorted(entry_points(group=group), key=lambda ep: ep.name)
    ]


def load_installed() -> list[Plugin]:
    """Import every installed plug-in now, at start. One that fails raises `ConfigError`
    naming it and its package."""
    plugins = installed()
    for plugin in plugins:
        try:
            load(plugin.reference)
        except Exception as exc:
            raise ConfigError(
                f"the {GROUPS[plugin.group]} plug-in {plugin.name!r} of {plugin.package} "
                f"({plugin.group}: {plugin.reference}) failed to load: {exc!r}; "
                f"fix or uninstall {plugin.package.split()[0]}"
            ) from exc
    return plugins
