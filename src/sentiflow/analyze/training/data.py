"""The training data carried in the repository (`data/train/`), mapped to sentiflow's labels.

`load(task, split)` returns (texts, labels) with canonical labels only; every loader is
deterministic, so a fixed seed gives the same model. Sources and licences: data/train/README.md.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Final, Literal

from sentiflow.errors import ConfigError

Task = Literal["sentiment", "emotion"]
Split = Literal["train", "dev", "test"]
TASKS: Final[tuple[Task, ...]] = ("sentiment", "emotion")

# GoEmotions is Apache-2.0; the others are research data (see the README): `clean_licence`
# keeps them out of a model.
CLEAN_SOURCES: Final = ("goemotions",)
# UMSAB's eight languages, each its own source, so a language can be held out like a domain.
UMSAB_LANGUAGES: Final = ("ar", "de", "en", "es", "fr", "hi", "it", "pt")
UMSAB_SOURCES: Final = tuple(f"umsab-{lang}" for lang in UMSAB_LANGUAGES)
ENGLISH_SOURCES: Final[dict[Task, tuple[str, ...]]] = {
    "sentiment": ("goemotions", "semeval", "sst", "custrev"),
    "emotion": ("goemotions", "tweeteval"),
}
SOURCES: Final[dict[Task, tuple[str, ...]]] = {
    "sentiment": ENGLISH_SOURCES["sentiment"] + UMSAB_SOURCES,
    "emotion": ENGLISH_SOURCES["emotion"],
}
# The domains of the cross-domain yardstick (`sentiflow evaluate --cross-domain`): each is held
# out in turn. UMSAB's English part is SemEval-2017 tweets, so it belongs to "tweets".
DOMAINS: Final[dict[str, tuple[str, ...]]] = {
    "tweets": ("semeval", "tweeteval", "umsab-en"),
    "reviews": ("sst", "custrev"),
    "reddit": ("goemotions",),
    **{lang: (f"umsab-{lang}",) for lang in UMSAB_LANGUAGES if lang != "en"},
}
# TweetEval's "optimism" is positive affect: Ekman's joy, as GoEmotions' grouping maps it.
_TWEETEVAL_EMOTION: Final = {
    "anger": "anger",
    "joy": "joy",
    "optimism": "joy",
    "sadness": "sadness",
}


def default_train_dir() -> Path:
    """`data/train` of the repository this package runs from, else of the working directory."""
    repo = Path(__file__).resolve().parents[4] / "data" / "train"
    return repo if repo.is_dir() else Path("data/train")


def _lines(path: Path) -> Iterator[list[str]]:
    if not path.is_file():
        raise ConfigError(
            f"training file {path} is missing; run from a sentiflow checkout or pass --data-dir "
            "pointing at its data/train directory"
        )
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 2 and fields[0].strip():
                yield fields


_DETOK = [
    (re.compile(r" n't\b"), "n't"),
    (re.compile(r" '(s|re|ve|ll|d|m)\b"), r"'\1"),
    (re.compile(r"(\w) n 't\b"), r"\1n't"),
    (re.compile(r"``\s*|\s*''"), '"'),
    (re.compile(r"\( "), "("),
    (re.compile(r" ([.,!?;:)%])"), r"\1"),
]


def detokenize(text: str) -> str:
    """Undo the Penn-Treebank tokenisation of the review sets ("do n't ." → "don't."), so
    they look like live text and the model learns the sentiment, not the tokenisation."""
    for pattern, replacement in _DETOK:
        text = pattern.sub(replacement, text)
    return text


def _holdout(text: str) -> Split:
    """A fixed 80/10/10 split of sources that ship without one, by a hash of the text."""
    bucket = zlib.crc32(text.encode()) % 10
    return "dev" if bucket == 0 else "test" if bucket == 1 else "train"


@cache
def _goemotions_maps(train_dir: Path) -> tuple[list[str], dict[str, str], dict[str, str]]:
    names = (train_dir / "labels.txt").read_text(encoding="utf-8").split()
    ekman = json.loads((train_dir / "ekman_mapping.json").read_text(encoding="utf-8"))
    polarity = json.loads((train_dir / "sentiment_mapping.json").read_text(encoding="utf-8"))
    to_emotion = {name: group for group, members in ekman.items() for name in members}
    to_sentiment = {name: group for group, members in polarity.items() for name in members}
    to_emotion["neutral"] = to_sentiment["neutral"] = "neutral"
    return names, to_emotion, to_sentiment


def goemotions_label(task: Task, label_ids: str, train_dir: Path) -> str | None:
    """The one canonical class of a GoEmotions example, or None when it has none or several.

    Sentiment drops "ambiguous" labels (surprise, realization, confusion, curiosity carry no
    polarity): "curiosity" alone has no sentiment class, "curiosity,joy" is positive.
    """
    names, to_emotion, to_sentiment = _goemotions_maps(train_dir)
    mapping = to_emotion if task == "emotion" else to_sentiment
    classes = {mapping[names[int(i)]] for i in label_ids.split(",")} - {"ambiguous"}
    return classes.pop() if len(classes) == 1 else None


def _goemotions(task: Task, split: Split, train_dir: Path) -> Iterator[tuple[str, str]]:
    for text, ids, *_ in _lines(train_dir / f"goemotions_{split}.tsv.gz"):
        label = goemotions_label(task, ids, train_dir)
        if label is not None:
            yield text, label


def _umsab(lang: str, split: Split, train_dir: Path) -> Iterator[tuple[str, str]]:
    """UMSAB's own split: its train part is train, its validation part dev; no test here (the
    benchmark's test split is not carried, and never trained on)."""
    wanted = {"train": "train", "dev": "val"}.get(split)
    for text, label, language, part, *_ in _lines(train_dir / "umsab_sentiment.tsv.gz"):
        if language == lang and part == wanted:
            yield text, label


def _source(name: str, task: Task, split: Split, train_dir: Path) -> Iterator[tuple[str, str]]:
    if name == "goemotions":
        yield from _goemotions(task, split, train_dir)
        return
    if name.startswith("umsab-"):
        yield from _umsab(name.removeprefix("umsab-"), split, train_dir)
        return
    files = {
        "semeval": "semeval_sentiment.tsv.gz",
        "sst": "sst_sentiment.tsv.gz",
        "custrev": "custrev_sentiment.tsv.gz",
        "tweeteval": "tweeteval_emotion.tsv.gz",
    }
    for text, label, *_ in _lines(train_dir / files[name]):
        clean = detokenize(text) if name in ("sst", "custrev") else text
        if _holdout(clean) != split:
            continue
        if name == "tweeteval":
            yield clean, _TWEETEVAL_EMOTION[label]
        else:
            yield clean, label


def load(
    task: Task,
    split: Split,
    *,
    train_dir: Path | None = None,
    sources: Sequence[str] | None = None,
    clean_licence: bool = False,
) -> tuple[list[str], list[str]]:
    """(texts, canonical labels) of one task and split from the chosen sources, in file order."""
    train_dir = (train_dir or default_train_dir()).resolve()
    chosen = tuple(sources) if sources is not None else SOURCES[task]
    if clean_licence:
        chosen = tuple(name for name in chosen if name in CLEAN_SOURCES)
    unknown = [name for name in chosen if name not in SOURCES[task]]
    if unknown:
        raise ConfigError(
            f"no {task} data in source(s) {', '.join(unknown)}; "
            f"choose from {', '.join(SOURCES[task])}"
        )
    texts: list[str] = []
    labels: list[str] = []
    for name in chosen:
        for text, label in _rows(name, task, split, train_dir):
            texts.append(text)
            labels.append(label)
    return texts, labels


@cache
def _rows(name: str, task: Task, split: Split, train_dir: Path) -> tuple[tuple[str, str], ...]:
    """One source's rows, read once per process: the yardstick loads each source many times.
    The files never change while sentiflow runs."""
    return tuple(_source(name, task, split, train_dir))


def goemotions_eval_rows(
    split: Split = "test", train_dir: Path | None = None
) -> list[dict[str, str]]:
    """One split of GoEmotions in `sentiflow evaluate`'s JSONL shape; a task's key only where
    the example maps to a single class of that task."""
    train_dir = (train_dir or default_train_dir()).resolve()
    rows: list[dict[str, str]] = []
    for text, ids, *_ in _lines(train_dir / f"goemotions_{split}.tsv.gz"):
        row = {"text": text}
        for task in TASKS:
            label = goemotions_label(task, ids, train_dir)
            if label is not None:
                row[task] = label
        if len(row) > 1:
            rows.append(row)
    return rows


def write_eval_file(path: Path, rows: Sequence[dict[str, str]]) -> None:
    # mtime=0 keeps the gzip bytes identical between runs.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "--eval-file":
        sys.exit("usage: python -m sentiflow.analyze.training.data --eval-file OUT.jsonl.gz")
    write_eval_file(Path(sys.argv[2]), goemotions_eval_rows("test"))
