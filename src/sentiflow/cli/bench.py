"""`sentiflow bench …`: the benchmarks. Each prints a table and, with --json, ends with one JSON
line; figures come with a baseline measured in the same run."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from sentiflow.cli.helpers import App, err, report, settings_or_exit

bench_app = App(help="Benchmarks; each prints a table and, last, one JSON line.")


@bench_app.command("embedded")
def bench_embedded(
    posts: Annotated[int, typer.Option(min=1, help="Posts to push through.")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Ingest → analyse → store through the embedded path; beside it, the analyzer alone."""
    from sentiflow.bench.embedded import run_embedded

    report(asyncio.run(run_embedded(settings_or_exit(), posts=posts)), as_json)


@bench_app.command("auto")
def bench_auto(
    posts: Annotated[int, typer.Option(min=1, help="Posts of the flood.")] = 100_000,
    rate: Annotated[float, typer.Option(min=0.1, help="Posts/s of the steady phase.")] = 20.0,
    seconds: Annotated[float, typer.Option(min=1, help="Length of the steady phase.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The auto analyzer, embedded: flooded, posts/s beside builtin-fast alone; at a steady
    rate, the share of posts the accurate tier labelled."""
    from sentiflow.bench.auto import run_auto

    result = run_auto(settings_or_exit(), posts=posts, rate=rate, seconds=seconds)
    report(asyncio.run(result), as_json)


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
    result = run_transformers(
        texts=texts,
        batch_size=batch_size,
        device=device or settings.device,
        model_type=model_type,
    )
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
    sessions: Annotated[
        bool, typer.Option(help="Send each feed with a session, so that the server stores it.")
    ] = False,
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
        sessions=sessions,
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
    report(result, as_json)


@bench_app.command("purge")
def bench_purge(
    posts: Annotated[
        int, typer.Option(min=1000, help="Posts to seed, spread over 400 days.")
    ] = 10_000_000,
    older_than_days: Annotated[
        int, typer.Option(min=1, help="Purge the posts older than this many days.")
    ] = 360,
    batch: Annotated[int, typer.Option(min=1, help="Posts per delete transaction.")] = 2_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Retention on PostgreSQL at scale: seed a scratch database in SQL, purge the oldest
    posts in batches, and the latency of the worker's writes beside it, against the same
    writes just before."""
    from sentiflow.bench.purge import run_purge_bench

    result = asyncio.run(
        run_purge_bench(
            settings_or_exit(), posts=posts, older_than_days=older_than_days, batch=batch
        )
    )
    report(result, as_json)


@bench_app.command("export")
def bench_export(
    rows: Annotated[int, typer.Option(min=1, help="Analysed posts to export.")] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """p95 of /health idle, then while a dataset of `rows` posts exports in the background."""
    from sentiflow.bench.export import run_export

    report(asyncio.run(run_export(settings_or_exit(), rows=rows)), as_json)


@bench_app.command("analyze")
def bench_analyze(
    requests: Annotated[
        int, typer.Option(min=10, help="Requests of one text; fewer of 100 and 1,000.")
    ] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """POST /api/analyze p50/p99 for 1, 100 and 1,000 texts; beside it, the analyzer alone."""
    from sentiflow.bench.analyze import run_analyze

    report(asyncio.run(run_analyze(settings_or_exit(), requests=requests)), as_json)


@bench_app.command("analyzers")
def bench_analyzers(
    texts: Annotated[int, typer.Option(min=100, help="Texts per backend.")] = 20_000,
    batch: Annotated[int, typer.Option(min=1, help="Texts per analyze() call.")] = 1_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Texts/s on one core of every offline analyzer backend, VADER (lexicon) beside them."""
    from sentiflow.bench.analyzers import run_analyzers

    report(run_analyzers(settings_or_exit(), texts=texts, batch=batch), as_json)


@bench_app.command("analytics")
def bench_analytics_command(
    posts: Annotated[int, typer.Option(min=1, help="Posts to seed.")] = 1_000_000,
    days: Annotated[float, typer.Option(min=0.01, help="Days they spread over.")] = 30.0,
    reps: Annotated[int, typer.Option(min=1, help="Timed calls per endpoint, cold and warm.")] = 30,
    plain_reps: Annotated[int, typer.Option(min=1, help="Timed plain GROUP BY calls.")] = 5,
    keep: Annotated[bool, typer.Option(help="Keep the bench database afterwards.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Stats endpoints over seeded data, cold and warm cache; beside them, a plain GROUP BY."""
    from sentiflow.bench.analytics import run_analytics

    result = asyncio.run(
        run_analytics(
            settings_or_exit(), posts=posts, days=days, reps=reps, plain_reps=plain_reps, keep=keep
        )
    )
    report(result, as_json)
    _table(result)


def _table(result: dict[str, object]) -> None:
    from rich.table import Table

    table = Table(title="p50 / p95 ms")
    for column in ("endpoint", "cold", "warm", "plain GROUP BY", "minute rollups only"):
        table.add_column(column, justify="right")
    endpoints = result.get("endpoints")
    assert isinstance(endpoints, dict)
    for name, row in endpoints.items():

        def cell(key: str, row: dict[str, dict[str, float]] = row) -> str:
            part = row.get(key)
            return f"{part['p50']:.1f} / {part['p95']:.1f}" if part else "-"

        table.add_row(
            name, cell("cold"), cell("warm"), cell("plain_group_by"), cell("minute_rollups_only")
        )
    err.print(table)
