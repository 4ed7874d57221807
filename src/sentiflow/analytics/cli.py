"""The analytics commands: `sentiflow seed` and `sentiflow bench analytics`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

err = Console(stderr=True)


def seed_command(
    posts: Annotated[int, typer.Option(min=1, help="Posts to write.")] = 100_000,
    days: Annotated[
        float, typer.Option(min=0.01, help="Days back from now they spread over.")
    ] = 30.0,
    sources: Annotated[
        list[str] | None, typer.Option("--sources", help="Source names (repeat the option).")
    ] = None,
    seed_value: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
) -> None:
    """Write synthetic posts with analyses and rollups at bulk speed (COPY on PostgreSQL)."""
    from sentiflow.analytics.seed import SOURCES, seed
    from sentiflow.cli import fail, settings_or_exit
    from sentiflow.errors import SentiflowError
    from sentiflow.store.db import Store
    from sentiflow.store.seed import analyze_tables

    settings = settings_or_exit()
    store = Store.from_settings(settings)

    async def go() -> int:
        try:
            await store.migrate()
            with Progress(console=err) as bar:
                task = bar.add_task("seed", total=posts)
                written = await seed(
                    store,
                    posts=posts,
                    days=days,
                    sources=sources or SOURCES,
                    seed_value=seed_value,
                    progress=lambda n: bar.advance(task, n),
                    stage=lambda name: bar.update(task, description=f"seed: {name}"),
                )
            await analyze_tables(store)
            return written
        finally:
            await store.close()

    try:
        written = asyncio.run(go())
    except SentiflowError as exc:
        raise fail(exc) from None
    err.print(f"[green]{written:,} posts[/green] with analyses and rollups written")


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
    from sentiflow.cli import report, settings_or_exit

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
