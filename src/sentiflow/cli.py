"""The `sentiflow` command line (typer + rich). Heavy imports happen inside each command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from sentiflow import __version__
from sentiflow.analytics import cli as analytics_cli
from sentiflow.analyze.commands import analyzer_app, bench_analyzers
from sentiflow.errors import SentiflowError
from sentiflow.feedback import cli as feedback_cli
from sentiflow.ingest.connectors import cli as sources_cli
from sentiflow.queue.cli import dlq_app
from sentiflow.settings import Settings

if TYPE_CHECKING:
    from sentiflow.store.db import Store

T = TypeVar("T")

app = typer.Typer(
    name="sentiflow",
    help="Live sentiment and emotion analytics for streams of posts and reviews.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints a table and, last, one JSON line.")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(analyzer_app)  # train, evaluate, models
bench_app.command("analyzers")(bench_analyzers)
app.add_typer(sources_cli.sources_app, name="sources")
app.add_typer(sources_cli.jobs_app, name="jobs")
app.add_typer(feedback_cli.keys_app, name="keys")
app.add_typer(feedback_cli.datasets_app, name="datasets")
app.command("reanalyze")(feedback_cli.reanalyze_command)
app.add_typer(analyzer_app)  # train, evaluate, models
bench_app.command("analyzers")(bench_analyzers)
app.add_typer(dlq_app, name="dlq")
err = Console(stderr=True)


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


def fail(exc: SentiflowError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(1)


def run_with_store(job: Callable[[Settings, Store], Awaitable[T]]) -> T:
    """Run `job(settings, store)` for a command: the store migrated in embedded mode (others
    run `sentiflow db upgrade`), closed afterwards, and our errors printed plainly."""
    from sentiflow.store.db import Store

    settings = settings_or_exit()

    async def go() -> T:
        store = Store.from_settings(settings)
        try:
            if settings.database_url is None:
                await store.migrate()
            return await job(settings, store)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except SentiflowError as exc:
        raise fail(exc) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sentiflow {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """sentiflow: ingest posts, analyse sentiment and emotion, serve live analytics."""


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


@app.command()
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
    # one zlib pass per client and message (it doubled the server's cost per message).
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        **uvicorn_limits(settings),
    )


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API processes.")] = 1,
) -> None:
    """Serve the API alone (distributed mode: workers run as `sentiflow worker`). With several
    processes, each new connection goes to the one holding the fewest; one that dies is
    replaced."""
    from sentiflow.api import server
    from sentiflow.processes import preflight

    settings = bound(settings_or_exit(), host)
    try:
        asyncio.run(preflight(settings))
    except SentiflowError as exc:
        raise fail(exc) from None
    say_who_may_call(settings)
    try:
        server.serve(
            server.APP,
            host=settings.host,
            port=port or settings.port,
            workers=workers,
            log_level="warning",
            ws_per_message_deflate=False,  # as in `run`
            **uvicorn_limits(settings),
        )
    except SentiflowError as exc:
        raise fail(exc) from None


@app.command()
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


@app.command()
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
) -> None:
    """Analyse queued posts (distributed mode). SIGTERM: finish the batch in hand, ack, exit."""
    from sentiflow.processes import preflight, serve

    settings = settings_or_exit()
    if settings.redis_url is None or settings.database_url is None:
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
        )
        if v is not None
    }
    settings = settings.model_copy(update=updates)
    try:
        asyncio.run(preflight(settings))
        code = serve(settings, settings.worker_processes)
    except SentiflowError as exc:
        raise fail(exc) from None
    raise typer.Exit(code)


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

    try:
        asyncio.run(go())
    except SentiflowError as exc:
        raise fail(exc) from None
    err.print(f"database at {describe(settings.sqlalchemy_url)} is up to date")


@app.command("import")
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
    show_rejected: Annotated[int, typer.Option(help="Rejected rows to list.")] = 20,
) -> None:
    """Import posts from a file through the normal pipeline, with progress and a summary."""
    from sentiflow.ingest.files import ColumnMap, detect_format
    from sentiflow.ingest.importer import import_posts

    settings = settings_or_exit()
    columns = ColumnMap(
        text=text_column,
        external_id=id_column,
        created_at=created_column,
        author=author_column,
        source_column=source_column,
        topic=topic_column,
        source=source,
    )
    try:
        result = asyncio.run(import_posts(settings, file, detect_format(file, fmt), columns))
    except SentiflowError as exc:
        raise fail(exc) from None
    err.print(
        f"[green]{result.accepted:,} accepted[/green], "
        f"[{'red' if result.rejected else 'green'}]{len(result.rejected):,} rejected[/]"
        f" from {file}"
    )
    for line, reason in result.rejected[:show_rejected]:
        err.print(f"  line {line}: {reason}")
    if len(result.rejected) > show_rejected:
        err.print(f"  … and {len(result.rejected) - show_rejected:,} more")


@app.command()
def analyze(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to analyse.")] = None,
    input_file: Annotated[
        str | None,
        typer.Option("-i", "--input", help="JSONL ({id, text}) or plain lines; - = stdin."),
    ] = None,
    output_file: Annotated[
        str, typer.Option("-o", "--output", help="Output JSONL; - = stdout.")
    ] = "-",
    model: Annotated[str | None, typer.Option("--model", help="Analyzer backend.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per model call.")] = 1000,
) -> None:
    """Analyse texts and print one JSON line per input line, in order."""
    from sentiflow.analyze.batch import analyze_stream

    settings = settings_or_exit()
    if not texts and input_file is None:
        err.print("[red]error:[/red] give texts as arguments or a file with -i (- for stdin)")
        raise typer.Exit(2)
    try:
        analyze_stream(
            settings,
            texts=texts or [],
            input_file=input_file,
            output_file=output_file,
            model=model or settings.analyzer,
            batch_size=batch_size,
            console=err,
        )
    except SentiflowError as exc:
        raise fail(exc) from None


@app.command("train-accurate")
def train_accurate(
    limit: Annotated[
        int, typer.Option(min=100, help="Distinct training texts (seeded sample).")
    ] = 25_000,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the fit.")] = 13,
    c: Annotated[
        float, typer.Option("--c", min=1e-4, help="Inverse regularisation strength.")
    ] = 4.0,
    out: Annotated[
        Path | None, typer.Option(help="Heads file (default: the packaged one).")
    ] = None,
    runtime: Annotated[str, typer.Option(help="MiniLM runtime: onnx or torch.")] = "onnx",
) -> None:
    """Train builtin-accurate's heads on MiniLM embeddings (cached under the data dir)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from sentiflow.analyze.training.accurate import train_accurate as fit

    settings = settings_or_exit()
    target = out or Path(__file__).parent / "analyze" / "artifacts" / "accurate-heads.npz"
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        try:
            result = fit(
                out=target,
                cache=settings.data_dir / "models" / "minilm-embeddings.npz",
                limit=limit,
                seed=seed,
                c=c,
                runtime=runtime,
                progress=progress,
            )
        except SentiflowError as exc:
            raise fail(exc) from None
    err.print(f"[green]builtin-accurate heads {result['version']}[/green] written to {target}")


@bench_app.command("embedded")
def bench_embedded(
    posts: Annotated[int, typer.Option(min=1, help="Posts to push through.")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Ingest → analyse → store through the embedded path; beside it, the analyzer alone."""
    from sentiflow.bench.embedded import run_embedded

    report(asyncio.run(run_embedded(settings_or_exit(), posts=posts)), as_json)


@bench_app.command("transformers")
def bench_transformers(
    texts: Annotated[int, typer.Option(min=1, help="Texts to classify.")] = 2_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 64,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    model_type: Annotated[str, typer.Option(help="Architecture at its default size.")] = "roberta",
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """transformers backend: texts/s of a base-size model with random weights, built locally."""
    from sentiflow.bench.transformers import run_transformers

    settings = settings_or_exit()
    try:
        result = run_transformers(
            texts=texts,
            batch_size=batch_size,
            device=device or settings.device,
            model_type=model_type,
        )
    except SentiflowError as exc:
        raise fail(exc) from None
    report(result, as_json)


@bench_app.command("rank")
def bench_rank(
    items: Annotated[int, typer.Option(min=1, max=1000, help="Posts per request.")] = 500,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 10,
    requests: Annotated[int, typer.Option(min=1, help="Requests measured.")] = 300,
    unknown: Annotated[
        float, typer.Option(min=0, max=1, help="Share of each feed not in the store.")
    ] = 0.1,
    strategy: Annotated[str, typer.Option(help="Ranking strategy.")] = "urgency",
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="API processes, as `sentiflow api --workers`; default: one per core."
        ),
    ] = None,
    rate_limits: Annotated[
        bool, typer.Option(help="Check each request against a rate limit (one never reached).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """POST /api/rank latency (p50/p95/p99) on a real server under concurrent clients."""
    from sentiflow.bench.rank import run_rank

    result = run_rank(
        settings_or_exit().model_copy(update={"rate_limits": rate_limits}),
        items=items,
        concurrency=concurrency,
        requests=requests,
        unknown=unknown,
        strategy=strategy,
        workers=workers,
    )
    report(asyncio.run(result), as_json)


@bench_app.command("live")
def bench_live(
    clients: Annotated[int, typer.Option(min=0, help="Concurrent /ws/live clients.")] = 1000,
    posts: Annotated[
        int, typer.Option(min=1000, help="Posts per phase (alone, with clients).")
    ] = 20_000,
    stalled: Annotated[int, typer.Option(min=0, help="Extra clients that never read.")] = 10,
    client_processes: Annotated[
        int, typer.Option(min=1, help="Processes holding the clients.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The pipeline at full speed without and with live WebSocket clients: delivery delay,
    summaries dropped for stalled clients, posts/s with vs without."""
    from sentiflow.bench.live import run_live

    result = run_live(
        settings_or_exit(),
        clients=clients,
        posts=posts,
        stalled=stalled,
        client_processes=client_processes,
    )
    report(asyncio.run(result), as_json)


# Analytics (issue 6): `sentiflow seed` and `sentiflow bench analytics`.
app.command("seed")(analytics_cli.seed_command)
bench_app.command("analytics")(analytics_cli.bench_analytics_command)


@bench_app.command("pipeline")
def bench_pipeline(
    posts: Annotated[int, typer.Option(min=1, help="Posts to push through.")] = 200_000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Posts per worker batch [default: SENTIFLOW_BATCH_SIZE]."),
    ] = None,
    rate: Annotated[
        float,
        typer.Option(min=0, help="Posts/s to offer (0: as fast as possible, for throughput)."),
    ] = 0,
    rate_limits: Annotated[
        bool,
        typer.Option(help="Each ingest request takes a Redis rate-limit token, as in the API."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Distributed mode: producer → Redis → K workers → PostgreSQL; beside it, the analyzer alone.
    Flooded, the latency is mostly time queued; `--rate` measures it at a steady load."""
    from sentiflow.bench.pipeline import run_pipeline

    settings = settings_or_exit()
    try:
        result = asyncio.run(
            run_pipeline(
                settings,
                posts=posts,
                workers=workers,
                batch_size=batch_size or settings.batch_size,
                rate=rate,
                rate_limits=rate_limits,
            )
        )
    except SentiflowError as exc:
        raise fail(exc) from None
    report(result, as_json)


@bench_app.command("export")
def bench_export(
    rows: Annotated[int, typer.Option(min=1, help="Analysed posts to export.")] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """p95 of /health idle, then while a dataset of `rows` posts exports in the background."""
    from sentiflow.bench.export import run_export

    report(asyncio.run(run_export(settings_or_exit(), rows=rows)), as_json)


def report(result: dict[str, Any], as_json: bool) -> None:
    from rich.table import Table

    table = Table(title=str(result.get("bench", "bench")))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if not isinstance(value, dict | list):
            table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    Console(stderr=True).print(table)
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(result).decode() + "\n")


def main() -> None:
    app()
