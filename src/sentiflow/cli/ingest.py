"""`sentiflow import`, `sentiflow sources list|add|remove|run` and `sentiflow jobs list`: posts
into the pipeline from files and sources, and the jobs that poll them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from sentiflow.cli.helpers import App, err, out, run_with_store, settings_or_exit
from sentiflow.settings import Settings

if TYPE_CHECKING:
    from sentiflow.ingest.importer import ImportResult
    from sentiflow.store.db import Store

DateFallback = Literal["reject", "now"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

ingest_app = App()
sources_app = App(
    help="Sources that workers poll (Reddit, feeds, simulator).", no_args_is_help=True
)
jobs_app = App(help="Scheduled jobs and search jobs.", no_args_is_help=True)


@ingest_app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV, JSONL or Parquet.")
    ],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet.")] = None,
    source: Annotated[
        str, typer.Option(help="Source of rows that have no source column.")
    ] = "import",
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    id_column: Annotated[str, typer.Option(help="Column holding the post's own id.")] = "id",
    created_column: Annotated[str, typer.Option(help="Column holding the date.")] = "created_at",
    author_column: Annotated[str, typer.Option(help="Column holding the author.")] = "author",
    source_column: Annotated[str, typer.Option(help="Column holding the source.")] = "source",
    topic_column: Annotated[str, typer.Option(help="Column holding the topic.")] = "topic",
    date_format: Annotated[
        str | None,
        typer.Option(help="strptime format of the dates, e.g. '%d/%m/%Y %H:%M' (default: guess)."),
    ] = None,
    dayfirst: Annotated[
        bool | None,
        typer.Option(
            "--dayfirst/--monthfirst",
            help="Read 5/6/2019 as 5 June or as May 6 (default: learnt from the file).",
            show_default=False,
        ),
    ] = None,
    timezone: Annotated[str, typer.Option(help="Zone of dates without an offset.")] = "UTC",
    date_fallback: Annotated[
        DateFallback,
        typer.Option(help="A date that cannot be read: reject the row, or use the import time."),
    ] = "reject",
    drop_extra: Annotated[
        bool,
        typer.Option(
            "--drop-extra", help="Drop the columns no post field uses (default: keep in meta)."
        ),
    ] = False,
    label_column: Annotated[
        str | None,
        typer.Option(help="Column holding the file's own label (e.g. a 1-5 rating)."),
    ] = None,
    label_map: Annotated[
        str | None,
        typer.Option(help="Labels onto sentiments, e.g. '1-2:negative,3:neutral,4-5:positive'."),
    ] = None,
    show_rejected: Annotated[int, typer.Option(help="Rejected rows to list.")] = 20,
    log_level: Annotated[
        LogLevel, typer.Option(help="Log lines at and above this level go to stderr.")
    ] = "WARNING",
) -> None:
    """Import posts from a file through the normal pipeline, with progress and a summary."""
    from sentiflow.ingest.dates import DateReader, zone
    from sentiflow.ingest.files import ColumnMap, detect_format
    from sentiflow.ingest.importer import Shaping, import_posts
    from sentiflow.ingest.labelmap import LabelMap
    from sentiflow.roles import feed

    settings = settings_or_exit(log_level=log_level)
    columns = ColumnMap(
        text=text_column,
        external_id=id_column,
        created_at=created_column,
        author=author_column,
        source_column=source_column,
        topic=topic_column,
        source=source,
        label=label_column,
        drop_extra=drop_extra,
    )
    if label_map and not label_column:
        err.print("[red]error:[/red] --label-map needs --label-column, the column it maps")
        raise typer.Exit(2)
    shaping = Shaping(
        dates=DateReader(
            fmt=date_format,
            order=None if dayfirst is None else "dayfirst" if dayfirst else "monthfirst",
            tz=zone(timezone),
        ),
        fallback_now=date_fallback == "now",
        labels=LabelMap.parse(label_map) if label_column else None,
    )

    async def go() -> ImportResult:
        async with feed(settings) as fed:
            drain = fed.drain if fed.worker is not None else None
            return await import_posts(
                fed.broker,
                file,
                detect_format(file, fmt),
                columns,
                shaping=shaping,
                store=fed.store,
                console=err,
                drain=drain,
            )

    result = asyncio.run(go())
    _import_summary(result, file, show_rejected)
    learnt = shaping.dates
    if learnt.order is not None and learnt.learnt_from is not None:
        err.print(
            f"dates read {learnt.order.removesuffix('first')} first, as "
            f"{learnt.learnt_from!r} can only be read so (--dayfirst/--monthfirst to choose)",
            markup=False,
            highlight=False,
        )


def _import_summary(result: ImportResult, file: Path, show_rejected: int) -> None:
    labelled = f", {result.labelled:,} labelled" if result.labelled else ""
    err.print(
        f"[green]{result.accepted:,} accepted[/green], "
        f"[{'red' if result.rejected else 'green'}]{len(result.rejected):,} rejected[/]"
        f" of {result.rows:,} rows from {file}{labelled}"
    )
    for line, reason in result.rejected[:show_rejected]:
        err.print(f"  line {line}: {reason}", markup=False, highlight=False, soft_wrap=True)
    if len(result.rejected) > show_rejected:
        err.print(f"  … and {len(result.rejected) - show_rejected:,} more")


@sources_app.command("list")
def list_sources() -> None:
    """Every source with its kind, interval and last poll."""
    from rich.table import Table

    from sentiflow.store import sources as source_store

    rows = run_with_store(lambda _, store: source_store.list_sources(store))
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

    async def add(settings: Settings, store: Store) -> tuple[str, bool]:
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

    chosen, created = run_with_store(add)
    err.print(f"source [bold]{chosen}[/bold] {'added' if created else 'updated'}")


@sources_app.command("remove")
def remove_source(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Remove a source and its cursor."""
    from sentiflow.store import sources as source_store

    if not run_with_store(lambda _, store: source_store.remove_source(store, name)):
        err.print(f"[red]error:[/red] no source named {name!r}; see `sentiflow sources list`")
        raise typer.Exit(1)
    err.print(f"source [bold]{name}[/bold] removed")


@sources_app.command("run")
def run_source(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Poll one source now, from its cursor. Embedded mode also analyses what came in."""
    from sentiflow.ingest.connectors.runner import PollResult, poll_source
    from sentiflow.roles import feed

    settings = settings_or_exit()

    async def go() -> PollResult:
        async with feed(settings) as fed:
            result = await poll_source(fed.store, fed.broker, settings, name)
            await fed.drain()
            return result

    result = asyncio.run(go())
    err.print(f"{name}: {result.fetched:,} new posts queued in {result.ms / 1000:.1f}s")


@jobs_app.command("list")
def list_jobs(limit: Annotated[int, typer.Option(min=1, help="Search jobs to show.")] = 20) -> None:
    """Scheduled jobs (runs, last slot and outcome) and the latest search jobs."""
    from rich.table import Table

    from sentiflow.store import job_runs as run_store
    from sentiflow.store import search_jobs as search_store

    async def both(_: Settings, store: Store) -> tuple[Any, Any]:
        return (
            await run_store.job_summaries(store),
            await search_store.list_search_jobs(store, limit=limit),
        )

    scheduled, searches = run_with_store(both)
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
