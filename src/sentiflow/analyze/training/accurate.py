"""Training of `builtin-accurate`'s heads: MiniLM embeddings of a seeded subsample of the
carried training data, one logistic regression per task, saved as a small `.npz`.

Embedding is the slow part (tens of texts/s per core), so embeddings are cached on disk by a
hash of the text: a second run, or a run with a larger sample, only embeds what is new.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import structlog

from sentiflow.analyze.accurate import DIM, Heads, Matrix, MiniLMEncoder
from sentiflow.analyze.training.data import TASKS, Task, load
from sentiflow.models import EMOTIONS, SENTIMENTS

log = structlog.get_logger("sentiflow.training.accurate")

LABELS: Final[dict[Task, tuple[str, ...]]] = {"sentiment": SENTIMENTS, "emotion": EMOTIONS}
# By default the heads see GoEmotions only: one text serves both tasks, so a 25,000-text sample
# costs 25,000 embeddings (the slow part of training) instead of twice that plus
# the other sources. `None` means builtin-fast's sources (see training/data.py).
IN_DOMAIN: Final[dict[Task, Sequence[str]]] = {
    "sentiment": ("goemotions",),
    "emotion": ("goemotions",),
}


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


class EmbeddingCache:
    """Embeddings by text hash, in one `.npz` next to the data dir's models."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, Matrix] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                for key, row in zip(data["keys"].tolist(), data["vectors"], strict=True):
                    self.vectors[key] = row

    def embed(
        self,
        encoder: Callable[[], MiniLMEncoder],
        texts: Sequence[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> Matrix:
        missing = sorted({t for t in texts if _key(t) not in self.vectors})
        if missing:
            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(done, len(missing))

            # Save every few thousand texts, so an interrupted run keeps its work.
            for start in range(0, len(missing), 4096):
                chunk = missing[start : start + 4096]
                vectors = encoder().encode(chunk, progress=step)
                self.vectors.update(zip(map(_key, chunk), vectors, strict=True))
                self.save()
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self.vectors[_key(t)] for t in texts]).astype(np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        partial = self.path.with_suffix(".tmp.npz")
        np.savez(partial, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        partial.replace(self.path)


def sample(
    *,
    limit: int,
    seed: int,
    sources: dict[Task, Sequence[str]] | None,
    train_dir: Path | None,
) -> dict[Task, tuple[list[str], list[str]]]:
    """A seeded sample of `limit` distinct texts from both tasks' training splits, with each
    task's examples among them: a text labelled for both tasks is embedded once."""
    data = {
        task: load(task, "train", train_dir=train_dir, sources=(sources or {}).get(task))
        for task in TASKS
    }
    pool = sorted({text for texts, _ in data.values() for text in texts})
    random.Random(seed).shuffle(pool)
    chosen = set(pool[:limit])
    picked: dict[Task, tuple[list[str], list[str]]] = {}
    for task, (texts, labels) in data.items():
        pairs = [(t, label) for t, label in zip(texts, labels, strict=True) if t in chosen]
        picked[task] = ([t for t, _ in pairs], [label for _, label in pairs])
    return picked


def fit_head(x: Matrix, y: Sequence[str], labels: Sequence[str], c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    # Unweighted classes: "balanced" weights scored worse on emotion (docs/models.md), pushing
    # the rare classes onto common examples.
    model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    model.fit(x, np.array([labels.index(label) for label in y]))
    return model


def train_accurate(
    *,
    out: Path,
    cache: Path,
    limit: int = 25_000,
    seed: int = 13,
    c: float = 4.0,
    sources: dict[Task, Sequence[str]] | None = IN_DOMAIN,
    train_dir: Path | None = None,
    runtime: str = "onnx",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit both heads and write them to `out`; returns what was trained on."""
    store = EmbeddingCache(cache)
    encoder: MiniLMEncoder | None = None

    def get_encoder() -> MiniLMEncoder:
        nonlocal encoder
        if encoder is None:
            encoder = MiniLMEncoder(runtime=runtime, cache_dir=cache.parent)
        return encoder

    arrays: dict[str, Any] = {}
    report: dict[str, Any] = {"limit": limit, "seed": seed, "C": c}
    picked = sample(limit=limit, seed=seed, sources=sources, train_dir=train_dir)
    for task in TASKS:
        texts, y = picked[task]

        def tick(done: int, total: int, task: str = task) -> None:
            if progress is not None:
                progress(f"embed {task}", done, total)

        x = store.embed(get_encoder, texts, tick)
        head = fit_head(x, y, LABELS[task], c, seed)
        present = [LABELS[task][i] for i in head.classes_]
        if present != list(LABELS[task]):
            missing = sorted(set(LABELS[task]) - set(present))
            raise ValueError(f"{task} training sample has no examples of {missing}; raise limit")
        arrays[f"{task}_coef"] = head.coef_.astype(np.float32)
        arrays[f"{task}_intercept"] = head.intercept_.astype(np.float32)
        report[f"{task}_examples"] = len(texts)
        log.info("accurate.head", task=task, n=len(texts))
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays.values()))
    version = digest.hexdigest()[:8]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, version=np.array(version), **arrays)
    report["version"] = version
    report["path"] = str(out)
    Heads.load(out)  # what we wrote must load
    return report
