"""`sentiflow seed`: synthetic posts with analyses and rollups, at bulk speed; with `--users`,
a simulated user pool's ranking sessions and feeds drawn from the carried posts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from sentiflow.cli.helpers import App, err, run_with_store, settings_or_exit

if TYPE_CHECKING:
    from sentiflow.ranking.user_pool import PoolSpec
    from sentiflow.settings import Settings
    from sentiflow.store.db import Store

seed_app = App()
POOL = "user pool (seed 004's semantics)"


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
    users: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Simulate this many users: ranking sessions and feeds from the carried posts.",
            rich_help_panel=POOL,
        ),
    ] = None,
    sessions_per_day: Annotated[
        float,
        typer.Option(min=0, help="Baseline sessions per user per day.", rich_help_panel=POOL),
    ] = 3.0,
    items_per_session: Annotated[
        int, typer.Option(min=1, max=1000, help="Posts in each feed.", rich_help_panel=POOL)
    ] = 20,
    activity_distribution: Annotated[
        str,
        typer.Option(
            help="multiplier:percent of users, e.g. '0.2:20,1:65,5:15'.", rich_help_panel=POOL
        ),
    ] = "1:100",
    platform_distribution: Annotated[
        str,
        typer.Option(help="platform:weight, one platform per user.", rich_help_panel=POOL),
    ] = "facebook:11,reddit:7.4,twitter:1.25",
    no_user_pool: Annotated[
        bool,
        typer.Option(
            "--no-user-pool",
            help="Store the carried posts on their platforms, without users or sessions.",
            rich_help_panel=POOL,
        ),
    ] = False,
) -> None:
    """Write synthetic posts with analyses and rollups at bulk speed (COPY on PostgreSQL).
    With --users (or --no-user-pool), store the carried posts on platforms instead, with the
    user pool's ranking sessions and feeds (GET /api/sessions)."""
    if users is not None or no_user_pool:
        from sentiflow.ranking.user_pool import PoolSpec, parse_activity, parse_distribution

        platforms = parse_distribution(platform_distribution, option="--platform-distribution")
        spec = None
        if not no_user_pool:
            spec = PoolSpec(
                users=users or 0,
                days=days,
                sessions_per_day=sessions_per_day,
                items_per_session=items_per_session,
                activity=parse_activity(activity_distribution),
                platforms=platforms,
            )
        stored, sessions = run_with_store(
            lambda settings, store: _pool(settings, store, spec, platforms, days, seed_value)
        )
        err.print(
            f"[green]{stored:,} posts[/green] and [green]{sessions:,} sessions[/green] written"
        )
        return
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


async def _pool(
    settings: Settings,
    store: Store,
    spec: PoolSpec | None,
    platforms: list[tuple[str, float]],
    days: float,
    seed_value: int | None,
) -> tuple[int, int]:
    from sentiflow.analyze.registry import build_analyzer
    from sentiflow.ingest.authors import hasher_for
    from sentiflow.ingest.demo import demo_posts
    from sentiflow.ranking.sessions import user_keyer
    from sentiflow.ranking.user_pool import seed_pool

    analyzer = build_analyzer(settings.analyzer, settings)
    return await seed_pool(
        store,
        spec,
        carried=demo_posts(),
        platforms=platforms,
        days=days,
        analyze=analyzer.analyze,
        seed_value=seed_value,
        users=user_keyer(hasher_for(settings.author_hash)),
    )
