"""`sentiflow plugins`: every strategy, connector and analyzer this installation knows, built in
or from another package's entry points, with the package it comes from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from sentiflow.cli.helpers import App, out

plugins_app = App()


@plugins_app.command("plugins")
def plugins_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """List the ranking strategies, source connectors and analyzers, and where each comes
    from. Installed plug-ins are imported, so a broken one is reported here."""
    from sentiflow import plugins
    from sentiflow.analyze.registry import BACKENDS
    from sentiflow.ingest.connectors.registry import BUILTIN as CONNECTORS
    from sentiflow.ranking.registry import BUILTIN as STRATEGIES

    builtin = "sentiflow (built-in)"
    rows = [
        *(("strategy", name, builtin, ref) for name, ref in STRATEGIES.items()),
        *(("connector", name, builtin, ref) for name, ref in CONNECTORS.items()),
        *(
            ("analyzer", name, builtin, f"{build.__module__}:{build.__name__}")
            for name, build in BACKENDS.items()
        ),
    ]
    builtins = {(kind, name) for kind, name, _, _ in rows}
    for plugin in plugins.load_installed():
        kind = plugins.GROUPS[plugin.group]
        package = plugin.package
        if (kind, plugin.name) in builtins:
            package += " (shadowed by the built-in)"
        rows.append((kind, plugin.name, package, plugin.reference))
    if as_json:
        keys = ("kind", "name", "package", "reference")
        out.print_json(json.dumps([dict(zip(keys, row, strict=True)) for row in rows]))
        return
    table = Table("kind", "name", "package", "reference")
    for row in rows:
        table.add_row(*row)
    out.print(table)
