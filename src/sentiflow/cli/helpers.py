"""What every command shares: the consoles, settings read once (an invalid one exits 2 naming
it), the one handler that prints our errors plainly (exit 1), the store opened for a command,
and the bench report. A leaf: it imports no command module."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from sentiflow.errors import SentiflowError
from sentiflow.settings import Settings

if TYPE_CHECKING:
    from sentiflow.store.db import Store

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


class Commands(TyperGroup):
    """The root command group: a `SentiflowError` raised by any command is its message on
    stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click.Context
        try:
            return super().invoke(ctx)
        except SentiflowError as exc:
            err.print(f"[red]error:[/red] {exc.message}")
            raise typer.Exit(1) from None


def settings_or_exit() -> Settings:
    from pydantic import ValidationError

    from sentiflow.log import configure

    try:
        settings = Settings()
    except ValidationError as exc:
        err.print(f"[red]error:[/red] invalid setting: {exc}")
        raise typer.Exit(2) from None
    configure(settings.log_level, settings.log_format)
    return settings


def run_with_store(job: Callable[[Settings, Store], Awaitable[T]]) -> T:
    """Run `job(settings, store)` for a command on the store alone (migrated in embedded mode;
    others run `sentiflow db upgrade`), closed afterwards."""
    from sentiflow.services import open_services

    settings = settings_or_exit()

    async def go() -> T:
        async with open_services(settings) as services:
            return await job(settings, services.store)

    return asyncio.run(go())


def report(result: dict[str, Any], as_json: bool) -> None:
    """A bench's figures as a table on stderr and, with `as_json`, one JSON line on stdout."""
    from rich.table import Table

    table = Table(title=str(result.get("bench", "bench")))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if not isinstance(value, dict | list):
            table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    err.print(table)
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(result).decode() + "\n")
