"""`sentiflow keys …`, `sentiflow datasets …` and `sentiflow reanalyze`: the command-line side
of the feedback loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sentiflow.errors import SentiflowError
from sentiflow.settings import Settings

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
datasets_app = typer.Typer(help="Dataset snapshots of labelled posts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(job: Callable[[Settings, Any], Awaitable[T]]) -> T:
    from sentiflow.cli import run_with_store  # sentiflow.cli imports this module

    return run_with_store(job)


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

    token, key = _run(
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
    for key in _run(lambda _s, store: list_keys(store)):
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

    count = _run(lambda _s, store: revoke_key(store, key))
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
    for row in _run(lambda _s, store: list_all(store)):
        table.add_row(
            row["id"],
            row["status"],
            row["trigger"],
            row["scope"],
            f"{row['rows']:,}",
            f"{row['created_at']:%Y-%m-%d %H:%M}",
        )
    out.print(table)


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

        done = _run(
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


def train_on_dataset(
    dataset: str,
    *,
    seed: int,
    limit: int | None,
    train_dir: Path | None,
    shuffle_labels: bool,
    base_tolerance: float,
) -> None:
    """`sentiflow train --dataset ID`: retrain, compare, promote only if better; print why."""
    from sentiflow.cli import fail, settings_or_exit
    from sentiflow.feedback.retrain import retrain

    settings = settings_or_exit()
    with err.status("training on base data + corrections") as status:
        try:
            decision = retrain(
                settings,
                dataset_id=dataset,
                seed=seed,
                limit=limit,
                train_dir=train_dir,
                shuffle_labels=shuffle_labels,
                base_tolerance=base_tolerance,
                progress=lambda message: status.update(f"training: {message}"),
            )
        except SentiflowError as exc:
            raise fail(exc) from None
    table = Table("", "base macro-F1", "corrections accuracy", "combined", title="held-out scores")
    for role in ("candidate", "current"):
        scores = decision.scores[role]
        corrections = scores["corrections_mean_accuracy"]
        table.add_row(
            f"{role} {scores['version']}",
            f"{scores['base_macro_f1']:.4f}",
            "-" if corrections is None else f"{corrections:.4f}",
            f"{scores['combined']:.4f}",
        )
    err.print(table)
    verdict = "[green]promoted[/green]" if decision.promoted else "[yellow]not promoted[/yellow]"
    err.print(f"{decision.candidate}: {verdict}: {decision.reason}")
