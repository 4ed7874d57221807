"""`sentiflow run`, `api`, `worker`, `config` and `db upgrade`: the commands that start or
prepare a deployment."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console

from sentiflow import __version__
from sentiflow.cli.helpers import App, err, settings_or_exit
from sentiflow.settings import Settings

serve_app = App()
db_app = App(help="Database schema.", no_args_is_help=True)


def bound(settings: Settings, host: str | None) -> Settings:
    """Settings whose `host` is the address the server will listen on, so that the key
    decision follows --host. `api` builds its app from the environment in each process,
    so the address goes there too."""
    import os

    if host is None or host == settings.host:
        return settings
    os.environ["SENTIFLOW_HOST"] = host
    return settings.model_copy(update={"host": host})


def say_who_may_call(settings: Settings) -> None:
    from sentiflow.feedback.auth import auth_decision

    required, why = auth_decision(settings)
    if why.startswith("WARNING"):
        err.print(f"[bold red]{why}[/bold red]")
    else:
        err.print(f"[{'green' if required else 'yellow'}]{why}[/]")


def uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's own caps, made explicit: a WebSocket message's size, and (h11) the bytes of
    a request's head; the app refuses longer targets and headers itself (414, 431)."""
    return {
        "ws_max_size": settings.ws_max_message_bytes,
        "h11_max_incomplete_event_size": settings.max_url_bytes + settings.max_header_bytes,
    }


@serve_app.command()
def run(
    demo: Annotated[
        bool | None,
        typer.Option(help="Replay the demo stream (default: on unless SENTIFLOW_SOURCES is set)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
) -> None:
    """Run everything in one process: API, dashboard, worker and (by default) the demo stream."""
    import uvicorn

    from sentiflow.api import create_app

    settings = bound(settings_or_exit(), host)
    settings.mode()
    host = settings.host
    port = port or settings.port
    demo = (not settings.sources) if demo is None else demo
    application = create_app(settings, worker=True, demo=demo)
    err.print(
        f"[bold green]sentiflow {__version__}[/bold green] on [link]http://{host}:{port}/[/link]"
        f"  (API docs: http://{host}:{port}/docs; data in {settings.data_dir.resolve()})"
    )
    say_who_may_call(settings)
    # /ws/live hands every client of a filter the same encoded summary; compression would be
    # one zlib pass per client and message, a large share of the server's cost per message.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        **uvicorn_limits(settings),
    )


@serve_app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API processes.")] = 1,
) -> None:
    """Serve the API alone (distributed mode: workers run as `sentiflow worker`). With several
    processes, each new connection goes to the one holding the fewest; one that dies is
    replaced."""
    from sentiflow.api import server
    from sentiflow.roles import preflight

    settings = bound(settings_or_exit(), host)
    asyncio.run(preflight(settings))
    say_who_may_call(settings)
    server.serve(
        server.APP,
        host=settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="warning",
        ws_per_message_deflate=False,  # as in `run`
        **uvicorn_limits(settings),
    )


@serve_app.command()
def worker(
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes [default: SENTIFLOW_WORKER_PROCESSES]."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Posts per batch [default: SENTIFLOW_BATCH_SIZE].")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, help="Batches in flight per process [default: SENTIFLOW_WORKER_CONCURRENCY]."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve /metrics on this port [default: SENTIFLOW_WORKER_METRICS_PORT].",
        ),
    ] = None,
) -> None:
    """Analyse queued posts (distributed mode). SIGTERM: finish the batch in hand, ack, exit."""
    from sentiflow.processes import serve
    from sentiflow.roles import preflight

    settings = settings_or_exit()
    if settings.embedded:
        err.print(
            "[red]error:[/red] `sentiflow worker` needs SENTIFLOW_REDIS_URL and "
            "SENTIFLOW_DATABASE_URL; embedded mode analyses inside `sentiflow run`"
        )
        raise typer.Exit(2)
    updates = {
        k: v
        for k, v in (
            ("worker_processes", processes),
            ("batch_size", batch_size),
            ("worker_concurrency", concurrency),
            ("worker_metrics_port", metrics_port),
        )
        if v is not None
    }
    settings = settings.model_copy(update=updates)
    asyncio.run(preflight(settings))
    raise typer.Exit(serve(settings, settings.worker_processes))


@serve_app.command()
def config(
    markdown: Annotated[bool, typer.Option(help="Print the README's Markdown table.")] = False,
) -> None:
    """Show every SENTIFLOW_* setting with its current value and what it does."""
    from rich.table import Table

    settings = Settings() if not markdown else None
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "" if default is None else str(default)
        if settings is not None:
            value = getattr(settings, name)
            shown = "(set)" if "key" in name and value is not None else str(value)
        rows.append((f"SENTIFLOW_{name.upper()}", shown, field.description or ""))
    if markdown:
        typer.echo("| variable | default | meaning |\n|---|---|---|")
        for var, default, meaning in rows:
            typer.echo(f"| `{var}` | {f'`{default}`' if default else ''} | {meaning} |")
        return
    table = Table("variable", "value", "meaning")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (embedded mode does this by itself)."""
    from sentiflow.store.db import Store, describe

    settings = settings_or_exit()
    store = Store.from_settings(settings)

    async def go() -> None:
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(go())
    err.print(f"database at {describe(settings.sqlalchemy_url)} is up to date")


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str, typer.Option("--to", help="URL of the target database, e.g. postgresql://…/db.")
    ],
    force: Annotated[
        bool, typer.Option(help="Delete the rows a non-empty target holds, then copy.")
    ] = False,
) -> None:
    """Copy this installation's store (SENTIFLOW_DATABASE_URL, or the embedded SQLite file)
    into another database: every table, migrated first, counts checked at the end."""
    from rich.progress import Progress

    from sentiflow.store.copy import copy_store, counts
    from sentiflow.store.db import Store, describe, make_engine

    settings = settings_or_exit()
    source = Store.from_settings(settings)
    target = Store(make_engine(to))

    async def go() -> dict[str, int]:
        try:
            if settings.embedded:
                await source.migrate()
            else:
                await source.require_schema()
            total = sum((await counts(source)).values())
            with Progress(console=err) as progress:
                task = progress.add_task("copying", total=total)

                def advance(table: str, rows: int) -> None:
                    progress.update(task, advance=rows, description=f"copying {table}")

                copied = await copy_store(source, target, replace=force, progress=advance)
            return copied.tables
        finally:
            await source.close()
            await target.close()

    copied = asyncio.run(go())
    err.print(
        f"copied {sum(copied.values()):,} rows in {len(copied)} tables from "
        f"{describe(settings.sqlalchemy_url)} to {describe(str(target.engine.url))}; "
        "counts match"
    )
    err.print(
        "dataset snapshots and promoted models are files: copy the data dir's datasets/ and "
        "models/ to the shared volume too"
    )
