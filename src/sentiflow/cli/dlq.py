"""`sentiflow dlq`: look at the dead letters (posts that failed every delivery) and queue them
again once the cause is fixed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from sentiflow.cli.helpers import App, out, settings_or_exit
from sentiflow.settings import Settings

if TYPE_CHECKING:
    from sentiflow.queue.base import DeadLetter

dlq_app = App(help="Dead letters: posts that failed every delivery.", no_args_is_help=True)


async def _with_broker(
    settings: Settings, limit: int, ids: list[str] | None, replay: bool
) -> tuple[list[DeadLetter], int]:
    from sentiflow.services import open_services

    async with open_services(settings) as services:
        admin = services.admin()
        if replay:
            return [], await admin.replay_dead_letters(ids or None)
        return await admin.dead_letters(limit), 0


def _run(limit: int, ids: list[str] | None, replay: bool) -> tuple[list[DeadLetter], int]:
    settings = settings_or_exit()
    if settings.redis_url is None:
        out.print(
            "embedded mode keeps dead letters in the running process; set SENTIFLOW_REDIS_URL"
        )
        raise typer.Exit(2)
    return asyncio.run(_with_broker(settings, limit, ids, replay))


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1, help="Dead letters to show, oldest first.")] = 50,
) -> None:
    """Show dead letters with the reason and how often each was delivered."""
    letters, _ = _run(limit, None, replay=False)
    # One line per letter, so it can be grepped and its id copied into `dlq replay`.
    for letter in letters:
        post = letter.post
        typer.echo(
            f"{letter.id}  deliveries={letter.deliveries}  {post.source}/{post.external_id or '-'}"
            f"  reason={letter.reason!r}  text={post.text[:60]!r}"
        )
    out.print(
        f"{len(letters)} dead letters" + (" (limit reached)" if len(letters) == limit else "")
    )


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter ids; none: all.")] = None,
) -> None:
    """Queue dead letters again (all, or the ids given) for the workers."""
    _, replayed = _run(0, ids, replay=True)
    out.print(f"{replayed:,} dead letters queued again")
