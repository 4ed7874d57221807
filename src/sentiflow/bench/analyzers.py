"""`sentiflow bench analyzers`: texts/s on one core of each offline analyzer backend, through
the batch API, on the same texts in the same run, each as a ratio to VADER (`lexicon`)
(per CPU second, so the ratio holds on a busy machine too).
"""

from __future__ import annotations

import time
from typing import Any, Final

from sentiflow.analyze import language
from sentiflow.analyze.base import analyze_in
from sentiflow.analyze.registry import BACKENDS, build_analyzer
from sentiflow.errors import SentiflowError
from sentiflow.ingest.demo import demo_posts
from sentiflow.settings import Settings

BASELINE: Final = "lexicon"
# Backends that call a network service or need a user's model are not benched here.
ONLINE: Final = frozenset({"llm", "transformers"})


def _throughput(
    name: str, settings: Settings, texts: list[str], langs: list[str | None], batch: int
) -> tuple[float, float]:
    """(texts per wall-clock second, texts per CPU second of this process). On a shared
    machine the CPU figure is the per-core one; alone, the two agree. An analyzer that reads
    each text's language gets it, as on the worker's path."""
    analyzer = build_analyzer(name, settings)
    analyze_in(analyzer, texts[:batch], langs[:batch])  # warm caches and lazy loads
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), batch):
        analyze_in(analyzer, texts[i : i + batch], langs[i : i + batch])
    return (
        len(texts) / (time.perf_counter() - started),
        len(texts) / max(time.process_time() - cpu, 1e-9),
    )


def run_analyzers(settings: Settings, *, texts: int, batch: int) -> dict[str, Any]:
    base = [post["text"] for post in demo_posts()]
    corpus = [base[i % len(base)] for i in range(texts)]
    # Identified once, outside the clock: the worker does it before the model runs.
    langs = language.identify(corpus)
    names = [BASELINE, *sorted(n for n in BACKENDS if n not in ONLINE and n != BASELINE)]
    result: dict[str, Any] = {
        "bench": "analyzers",
        "texts": texts,
        "batch": batch,
        "mean_chars": round(sum(map(len, corpus)) / len(corpus), 1),
    }
    skipped: dict[str, str] = {}
    rates: dict[str, float] = {}
    for name in names:
        try:
            wall, cpu = _throughput(name, settings, corpus, langs, batch)
        except (SentiflowError, ImportError) as exc:
            skipped[name] = str(exc)
            continue
        rates[name] = cpu
        result[f"{name}_texts_per_s"] = round(wall, 1)
        result[f"{name}_texts_per_cpu_s"] = round(cpu, 1)
    if BASELINE in rates:
        for name, rate in rates.items():
            if name != BASELINE:
                result[f"{name}_vs_{BASELINE}"] = float(f"{rate / rates[BASELINE]:.3g}")
    result["skipped"] = skipped
    return result
