"""`sentiflow keys …`, `sentiflow datasets …` and `sentiflow reanalyze`: the command-line side
of the feedback loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from sentiflow.cli.helpers import App, err, out, run_with_store

keys_app = App(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
datasets_app = App(help="Dataset snapshots of labelled posts.", no_args_is_help=True)
feedback_app = App()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. support-team.")],
    scope: Annotated[
        list[str], typer.Option(help="read, ingest, review or admin; repeat for several.")
    ],
    rate_limit: Annotated[
        str | None,
        typer.Option(help="This key's own rate limit, e.g. 20/s, 600/m [default: per scope]."),
    ] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from sentiflow.feedback.auth import create_key

    token, key = run_with_store(
        lambda _s, store: create_key(store, name=name, scopes=scope, rate_limit=rate_limit)
    )
    limit = f", rate limit {key.rate_limit}" if key.rate_limit else ""
    err.print(
        f"key {key.id} for {key.name!r} with scopes {', '.join(key.scopes)}{limit}; "
        "store it now, it is not shown again:"
    )
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, scopes, created, revoked."""
    from sentiflow.feedback.auth import list_keys

    table = Table("id", "name", "scopes", "rate limit", "created", "revoked")
    for key in run_with_store(lambda _s, store: list_keys(store)):
        table.add_row(
            key.id,
            key.name,
            ",".join(key.scopes),
            key.rate_limit or "",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="A key id, or a name (revokes all its keys).")],
) -> None:
    """Revoke a key at once; requests with it answer 401."""
    from sentiflow.feedback.auth import revoke_key

    count = run_with_store(lambda _s, store: revoke_key(store, key))
    if not count:
        err.print(
            f"[red]error:[/red] no live key with id or name {key!r}; see `sentiflow keys list`"
        )
        raise typer.Exit(1)
    err.print(f"revoked {count} key(s)")


@datasets_app.command("list")
def datasets_list() -> None:
    """Dataset snapshots, newest first, with their status and rows."""
    from sentiflow.store.datasets import list_all

    table = Table("id", "status", "trigger", "scope", "rows", "created")
    for row in run_with_store(lambda _s, store: list_all(store)):
        table.add_row(
            row["id"],
            row["status"],
            row["trigger"],
            row["scope"],
            f"{row['rows']:,}",
            f"{row['created_at']:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@feedback_app.command("reanalyze")
def reanalyze_command(
    since: Annotated[
        datetime | None, typer.Option(help="Posts created at or after (ISO date/time, UTC).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Posts created before.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Analyzer to use (default SENTIFLOW_ANALYZER).")
    ] = None,
) -> None:
    """Label stored posts again (e.g. after a promotion), with progress; ingestion and
    workers keep running meanwhile. Rollups follow the new labels."""
    from rich.progress import Progress

    from sentiflow.feedback.reanalyze import reanalyze

    def aware(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment

    with Progress(console=err) as bar:
        task = bar.add_task("reanalyze", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        done = run_with_store(
            lambda settings, store: reanalyze(
                settings,
                store,
                model=model or settings.analyzer,
                since=aware(since),
                until=aware(until),
                progress=progress,
            )
        )
    err.print(f"re-labelled {done:,} posts")
