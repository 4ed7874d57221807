"""`sentiflow sources list|add|remove|run` and `sentiflow jobs list`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from sentiflow.errors import SentiflowError

sources_app = typer.Typer(
    help="Sources that workers poll (Reddit, feeds, simulator).", no_args_is_help=True
)
jobs_app = typer.Typer(help="Scheduled jobs and search jobs.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _with_store(work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run `work(store, settings)` through `sentiflow.cli.run_with_store`."""
    from sentiflow.cli import run_with_store  # sentiflow.cli imports this module

    return run_with_store(lambda settings, store: work(store, settings))


@sources_app.command("list")
def list_sources() -> None:
    """Every source with its kind, interval and last poll."""
    from rich.table import Table

    from sentiflow.store import sources as source_store

    rows = _with_store(lambda store, _: source_store.list_sources(store))
    table = Table(title="sources")
    for column in ("name", "kind", "every", "enabled", "last run", "last", "total", "error"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.name,
            r.kind,
            f"{r.interval_s:g}s",
            "yes" if r.enabled else "no",
            r.last_run_at.strftime("%Y-%m-%d %H:%M:%S") if r.last_run_at else "never",
            str(r.last_fetched),
            str(r.total_fetched),
            (r.last_error or "")[:60],
        )
    out.print(table)
    if not rows:
        err.print("no sources yet: `sentiflow sources add rss:https://…` or set SENTIFLOW_SOURCES")


@sources_app.command("add")
def add_source(
    spec: Annotated[
        str,
        typer.Argument(
            help="rss:URL, atom:URL, json:URL, reddit:r/NAME, reddit:search:WORDS, "
            'simulator, replay:FILE, or a JSON object with "kind".'
        ),
    ],
    name: Annotated[str | None, typer.Option(help="Name (default: derived from the spec).")] = None,
    interval: Annotated[float | None, typer.Option(min=0.1, help="Seconds between polls.")] = None,
) -> None:
    """Add a source (or update one of the same name); running workers pick it up."""
    from sentiflow.ingest.connectors.registry import parse_spec
    from sentiflow.store import sources as source_store

    async def add(store: Any, settings: Any) -> tuple[str, bool]:
        parsed = parse_spec(spec)
        chosen = name or parsed.name
        created = await source_store.upsert_source(
            store,
            name=chosen,
            kind=parsed.kind,
            config=parsed.config,
            interval_s=interval or parsed.interval_s or settings.source_interval_s,
        )
        return chosen, created

    chosen, created = _with_store(add)
    err.print(f"source [bold]{chosen}[/bold] {'added' if created else 'updated'}")


@sources_app.command("remove")
def remove_source(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Remove a source and its cursor."""
    from sentiflow.store import sources as source_store

    if not _with_store(lambda store, _: source_store.remove_source(store, name)):
        err.print(f"[red]error:[/red] no source named {name!r}; see `sentiflow sources list`")
        raise typer.Exit(1)
    err.print(f"source [bold]{name}[/bold] removed")


@sources_app.command("run")
def run_source(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Poll one source now, from its cursor. Embedded mode also analyses what came in."""
    from sentiflow.cli import fail, settings_or_exit
    from sentiflow.ingest.connectors.runner import PollResult, poll_source
    from sentiflow.roles import feed

    settings = settings_or_exit()

    async def go() -> PollResult:
        async with feed(settings) as fed:
            result = await poll_source(fed.store, fed.broker, settings, name)
            await fed.drain()
            return result

    try:
        result = asyncio.run(go())
    except SentiflowError as exc:
        raise fail(exc) from None
    err.print(f"{name}: {result.fetched:,} new posts queued in {result.ms / 1000:.1f}s")


@jobs_app.command("list")
def list_jobs(limit: Annotated[int, typer.Option(min=1, help="Search jobs to show.")] = 20) -> None:
    """Scheduled jobs (runs, last slot and outcome) and the latest search jobs."""
    from rich.table import Table

    from sentiflow.store import job_runs as run_store
    from sentiflow.store import search_jobs as search_store

    async def both(store: Any, _: Any) -> tuple[Any, Any]:
        return (
            await run_store.job_summaries(store),
            await search_store.list_search_jobs(store, limit=limit),
        )

    scheduled, searches = _with_store(both)
    table = Table(title="scheduled jobs")
    for column in ("job", "every", "runs", "last started", "status", "runner", "error"):
        table.add_column(column)
    for j in scheduled:
        table.add_row(
            j.name,
            f"{j.interval_s:g}s",
            str(j.runs),
            j.last_started_at.strftime("%Y-%m-%d %H:%M:%S"),
            j.last_status,
            j.last_runner,
            (j.last_error or "")[:60],
        )
    out.print(table)
    table = Table(title="search jobs")
    for column in ("id", "query", "sources", "status", "progress", "found", "created"):
        table.add_column(column)
    for s in searches:
        table.add_row(
            s.id,
            s.query[:40],
            ",".join(s.sources),
            s.status,
            f"{s.progress:.0%}",
            str((s.result or {}).get("total", "")),
            s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)
