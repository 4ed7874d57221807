"""`sentiflow seed`: synthetic posts with analyses and rollups, at bulk speed."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import Progress

from sentiflow.cli.helpers import App, err, settings_or_exit

seed_app = App()


@seed_app.command("seed")
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

    written = asyncio.run(go())
    err.print(f"[green]{written:,} posts[/green] with analyses and rollups written")
