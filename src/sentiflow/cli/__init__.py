"""The `sentiflow` command line (typer + rich): one module per group of commands, each
importing only the leaf `helpers`; heavy imports happen inside each command. A `SentiflowError`
from any command is printed plainly by the one handler in `helpers.Commands`."""

from __future__ import annotations

from typing import Annotated

import typer

from sentiflow import __version__
from sentiflow.cli.analyze import analyzer_app
from sentiflow.cli.bench import bench_app
from sentiflow.cli.dlq import dlq_app
from sentiflow.cli.feedback import datasets_app, feedback_app, keys_app
from sentiflow.cli.helpers import App, Commands
from sentiflow.cli.ingest import ingest_app, jobs_app, sources_app
from sentiflow.cli.lifecycle import lifecycle_app
from sentiflow.cli.plugins import plugins_app
from sentiflow.cli.seed import seed_app
from sentiflow.cli.serve import db_app, serve_app

app = App(
    name="sentiflow",
    help="Live sentiment and emotion analytics for streams of posts and reviews.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=Commands,
)
for commands in (
    serve_app,
    ingest_app,
    analyzer_app,
    feedback_app,
    seed_app,
    plugins_app,
    lifecycle_app,
):
    app.add_typer(commands)
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")
app.add_typer(datasets_app, name="datasets")
app.add_typer(dlq_app, name="dlq")
app.add_typer(bench_app, name="bench")


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


def main() -> None:
    app()
