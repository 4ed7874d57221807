"""`sentiflow purge`: retention by hand (SENTIFLOW_RETENTION_DAYS runs it hourly in workers)."""

from __future__ import annotations

from typing import Annotated

import typer

from sentiflow.cli.helpers import App, err, run_with_store

lifecycle_app = App()


@lifecycle_app.command()
def purge(
    older_than: Annotated[
        str, typer.Option(help="Age of the posts to delete: 365d, 30d, 12h, 90m.")
    ],
) -> None:
    """Delete raw posts created longer ago than --older-than, with their analyses, labels,
    corrections and urgent rows, in small batches; the rollups (anonymous counts) stay, so
    long-range trends survive."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from sentiflow.lifecycle import parse_age
    from sentiflow.lifecycle import purge as purge_posts

    age = parse_age(older_than)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err) as progress:
        task = progress.add_task("purging", total=None)
        deleted = 0

        def advance(n: int) -> None:
            nonlocal deleted
            deleted += n
            progress.update(task, description=f"purged {deleted:,} posts")

        done = run_with_store(lambda _s, store: purge_posts(store, age, progress=advance))
    err.print(
        f"deleted {done.posts:,} posts created before {done.before:%Y-%m-%d %H:%M} UTC "
        f"in {done.seconds:.1f} s; rollups kept"
    )
