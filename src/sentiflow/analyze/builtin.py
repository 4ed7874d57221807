"""`builtin-fast`: sentiflow's own model, a linear classifier over hashed word and character
n-grams, one softmax per task, temperature-calibrated. numpy only at run time.

A text identified as one of the other languages it was trained on also gets that language's
own sentiment head (`LanguageHeads`), added to the shared scores: the shared weights serve
English first, and 1,839 tweets per language move them little.

Trained by `sentiflow train` (analyze/training/); the shipped version lives in
`analyze/artifacts/builtin-fast/`, trained ones under `<data dir>/models/builtin-fast/`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from sentiflow.analyze import versions
from sentiflow.analyze.features import Block, Featurizer, FloatArray, IntArray, scores
from sentiflow.errors import ConfigError
from sentiflow.models import EMOTIONS, SENTIMENTS, Analysis
from sentiflow.settings import Settings

NAME: Final = "builtin-fast"
# Features come from the first characters only: the label of a 50,000-character post is
# settled long before its end, and the cost stays bounded.
MAX_CHARS: Final = 20_000
# Texts per numpy pass: large enough to amortise the vector work, small enough for the cache.
CHUNK: Final = 2_000
Index = npt.NDArray[np.int32]


def _softmax(logits: FloatArray, temperature: float) -> FloatArray:
    z = logits * np.float32(1.0 / temperature)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


@dataclass(frozen=True)
class LanguageHeads:
    """Each language's sentiment head over the n-gram blocks, kept sparse: only the features
    its training texts have are non-zero (SGD never moves the others), in ascending order,
    language after language (`starts[i]:starts[i + 1]` is language i's share)."""

    languages: tuple[str, ...]
    features: IntArray
    starts: IntArray
    weights: FloatArray  # one row per stored feature, one column per sentiment
    bias: FloatArray  # languages × sentiments
    temperature: float
    _tables: dict[str, tuple[Index, FloatArray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_dense(
        cls, heads: dict[str, tuple[FloatArray, FloatArray]], temperature: float
    ) -> LanguageHeads:
        """From dense (features × sentiments weights, bias) per language."""
        languages = tuple(sorted(heads))
        kept = [np.flatnonzero(np.any(heads[lang][0] != 0, axis=1)) for lang in languages]
        return cls(
            languages=languages,
            features=np.concatenate([np.zeros(0, np.int64), *kept]),
            starts=np.cumsum([0, *map(len, kept)]),
            weights=np.vstack(
                [np.zeros((0, len(SENTIMENTS)), np.float32)]
                + [heads[lang][0][rows] for lang, rows in zip(languages, kept, strict=True)]
            ),
            bias=np.array([heads[lang][1] for lang in languages], np.float32).reshape(
                len(languages), len(SENTIMENTS)
            ),
            temperature=temperature,
        )

    def scores(self, lang: str, blocks: Sequence[Block], n: int) -> FloatArray:
        """The head of `lang` on the n-gram blocks of n texts: n × sentiments."""
        index, table = self._table(lang)
        local = []
        for block in blocks:
            parts = [
                (rows, index[np.minimum(cols, len(index) - 1)].astype(np.int64))
                for rows, cols in block.parts
            ]
            local.append(Block(parts, block.scale))
        return scores(local, table, self.bias[self.languages.index(lang)], n)

    def _table(self, lang: str) -> tuple[Index, FloatArray]:
        """(feature → row of the head's table, the table): the head's weights and one zero row
        last, where every feature it never saw looks up. Built on a language's first use: a
        dense index costs 4 bytes per feature, a binary search per feature costs more time."""
        if lang not in self._tables:
            i = self.languages.index(lang)
            keys = self.features[self.starts[i] : self.starts[i + 1]]
            zero = np.zeros((1, len(SENTIMENTS)), np.float32)
            table: FloatArray = np.vstack([self.weights[self.starts[i] : self.starts[i + 1]], zero])
            # Features past the last stored one are clipped onto one more slot, a miss.
            index = np.full(int(keys[-1]) + 2 if len(keys) else 1, len(keys), np.int32)
            index[keys] = np.arange(len(keys), dtype=np.int32)
            self._tables[lang] = (index, table)
        return self._tables[lang]


def _rows_of(blocks: Sequence[Block], rows: IntArray) -> list[Block]:
    """The blocks of the texts `rows` (ascending) only, renumbered from 0. Each part's rows
    ascend, so a text's occurrences are one run found by binary search: the cost follows the
    texts picked, not the batch."""
    out = []
    for block in blocks:
        parts = []
        for r, c in block.parts:
            start = np.searchsorted(r, rows)
            lengths = np.searchsorted(r, rows, side="right") - start
            # Occurrence j of the picked texts sits at its text's start plus its rank there.
            before = np.cumsum(lengths) - lengths
            at = np.repeat(start - before, lengths) + np.arange(int(lengths.sum()))
            parts.append((np.repeat(np.arange(len(rows), dtype=np.int64), lengths), c[at]))
        out.append(Block(parts, block.scale[rows]))
    return out


class BuiltinFastAnalyzer:
    name = NAME
    # `analyze` takes each text's language (analyze/base.py): the language heads need it.
    reads_language = True

    def __init__(self, path: Path) -> None:
        model = path / "model.npz"
        try:
            with np.load(model, allow_pickle=False) as npz:
                config = json.loads(str(npz["config"]))
                words = npz["vocabulary"].tolist()
                self._weights = np.ascontiguousarray(npz["weights"], dtype=np.float32)
                self._bias = npz["bias"].astype(np.float32)
                self._temperature = [float(t) for t in npz["temperature"]]
                self.version = str(npz["version"])
                # A version from before the language heads has none.
                self._heads = (
                    LanguageHeads(
                        languages=tuple(npz["head_languages"].tolist()),
                        features=npz["head_features"].astype(np.int64),
                        starts=npz["head_starts"].astype(np.int64),
                        weights=npz["head_weights"].astype(np.float32),
                        bias=npz["head_bias"].astype(np.float32),
                        temperature=float(npz["head_temperature"]),
                    )
                    if "head_languages" in npz
                    else None
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the {NAME} model from {model} ({exc}); retrain it with "
                "`sentiflow train` or reinstall sentiflow"
            ) from None
        # The languages of its training data, from its card; a card without the list is from
        # before sentiflow trained on other languages.
        card = path / "card.json"
        trained = json.loads(card.read_text(encoding="utf-8")) if card.is_file() else {}
        self.languages = {self.version: frozenset(trained.get("languages", ["en"]))}
        self._featurizer = Featurizer(
            {word: i for i, word in enumerate(words, start=1)},
            bigram_bits=int(config["bigram_bits"]),
            char_bits=int(config["char_bits"]),
            char_orders=[int(o) for o in config["char_orders"]],
            word_means=float(config.get("embedding_weight", 0.0)) > 0,
        )
        if self._weights.shape != (self._featurizer.n_features, len(SENTIMENTS) + len(EMOTIONS)):
            raise ConfigError(
                f"{model} has weights of shape {self._weights.shape}, not this model's"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> BuiltinFastAnalyzer:
        return cls(versions.current(settings, NAME).path)

    def probabilities(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """(n × 3 sentiment, n × 7 emotion) calibrated probabilities, columns in the order of
        `SENTIMENTS` and `EMOTIONS`. `langs`: each text's language (ISO 639-1, None where
        unknown); a text in a language with its own head gets that head's sentiment."""
        clipped = [text[:MAX_CHARS] for text in texts]
        blocks = self._featurizer.transform(clipped)
        logits = scores(blocks, self._weights, self._bias, len(texts))
        k = len(SENTIMENTS)
        sentiment = _softmax(logits[:, :k], self._temperature[0])
        if self._heads is not None and langs is not None:
            self._own_heads(self._heads, blocks, langs, logits[:, :k], sentiment)
        return sentiment, _softmax(logits[:, k:], self._temperature[1])

    def _own_heads(
        self,
        heads: LanguageHeads,
        blocks: Sequence[Block],
        langs: Sequence[str | None],
        logits: FloatArray,
        sentiment: FloatArray,
    ) -> None:
        """Overwrite the sentiment of each text in a language with a head of its own."""
        known = set(heads.languages)
        rows = np.array([i for i, lang in enumerate(langs) if lang in known], dtype=np.int64)
        if len(rows) == 0:
            return
        # The texts with a head are picked out of the batch once; each language then picks its
        # own from those few.
        picked = _rows_of(blocks[:3], rows)
        picked_langs = np.array([langs[i] for i in rows])
        for lang in sorted(set(picked_langs.tolist())):
            mine = np.flatnonzero(picked_langs == lang)
            part = picked if len(mine) == len(rows) else _rows_of(picked, mine)
            own = logits[rows[mine]] + heads.scores(lang, part, len(mine))
            sentiment[rows[mine]] = _softmax(own, heads.temperature)

    def analyze(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Analysis]:
        out: list[Analysis] = []
        for start in range(0, len(texts), CHUNK):
            chunk = langs[start : start + CHUNK] if langs is not None else None
            out.extend(self._analyze(texts[start : start + CHUNK], chunk))
        return out

    def _analyze(self, texts: Sequence[str], langs: Sequence[str | None] | None) -> list[Analysis]:
        if not texts:
            return []
        # float64 before rounding, so 0.9955 stays 0.9955 and not 0.9955000281333923.
        sentiment, emotion = (p.astype(np.float64) for p in self.probabilities(texts, langs))
        # All rounding and argmax in numpy; the Python loop only assembles the records.
        polarity = np.round(sentiment[:, 2] - sentiment[:, 0], 4).tolist()
        s_best = sentiment.argmax(axis=1).tolist()
        e_best = emotion.argmax(axis=1).tolist()
        s_rows = np.round(sentiment, 4).tolist()
        e_rows = np.round(emotion, 4).tolist()
        now = datetime.now(UTC)
        version = self.version
        return [
            Analysis(
                SENTIMENTS[s],
                s_row[s],
                dict(zip(SENTIMENTS, s_row, strict=True)),
                pol,
                EMOTIONS[e],
                e_row[e],
                dict(zip(EMOTIONS, e_row, strict=True)),
                version,
                now,
            )
            for s, e, s_row, e_row, pol in zip(
                s_best, e_best, s_rows, e_rows, polarity, strict=True
            )
        ]

    def close(self) -> None:
        """Nothing to release: the model is plain arrays."""
