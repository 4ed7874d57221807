"""What every command shares: the consoles, settings read once (an invalid one exits 2 naming
it), the one handler that prints our errors plainly (exit 1), help screens without a `<type>`
beside every option, the store opened for a command, and the bench report. A leaf: it imports
no command module."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from sentiflow.errors import SentiflowError
from sentiflow.settings import Settings

if TYPE_CHECKING:
    from sentiflow.store.db import Store

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


def _type_helps(param: TyperOption | TyperArgument) -> bool:
    """Typer prints a type beside every parameter (`<str>`, `<bool>` on a flag); only a
    choice's values and a path's kind tell a reader something the help text does not."""
    desc = param.type_descriptor
    return param.metavar is not None or bool(desc.is_choice or desc.is_path)


class _PlainOption(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:  # typer's own click.Context
        return super().display_type_rich(ctx) if _type_helps(self) else ""


class _PlainArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:  # typer's own click.Context
        return super().display_type_rich(ctx) if _type_helps(self) else ""


def _plain(params: list[Any]) -> list[Any]:
    # typer builds its parameters itself (the help option too, per context): give each the
    # subclass that shows a type only where it helps.
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _PlainOption
        elif type(param) is TyperArgument:
            param.__class__ = _PlainArgument
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


class App(typer.Typer):
    """A typer application whose commands and groups use `Command` and `Group`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


class Commands(Group):
    """The root command group: a `SentiflowError` raised by any command is its message on
    stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click.Context
        try:
            return super().invoke(ctx)
        except SentiflowError as exc:
            err.print(f"[red]error:[/red] {exc.message}")
            raise typer.Exit(1) from None


def settings_or_exit(*, log_level: str | None = None) -> Settings:
    """The settings, with logging configured; `log_level` overrides SENTIFLOW_LOG_LEVEL for an
    interactive command, whose progress bar a worker's INFO lines would only clutter."""
    from pydantic import ValidationError

    from sentiflow.log import configure

    try:
        settings = Settings()
    except ValidationError as exc:
        err.print(f"[red]error:[/red] invalid setting: {exc}")
        raise typer.Exit(2) from None
    configure(log_level or settings.log_level, settings.log_format)
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


def _cell(value: object) -> str:
    """A figure as the table shows it: one decimal, but three significant digits below 10, so a
    ratio of 0.013 does not read as 0.0."""
    if not isinstance(value, float):
        return str(value)
    return f"{value:,.1f}" if abs(value) >= 10 or value == 0 else f"{value:.3g}"


def report(result: dict[str, Any], as_json: bool) -> None:
    """A bench's figures as a table on stderr and, with `as_json`, one JSON line on stdout."""
    from rich.table import Table

    table = Table(title=str(result.get("bench", "bench")))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if not isinstance(value, dict | list):
            table.add_row(key, _cell(value))
    err.print(table)
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(result).decode() + "\n")
