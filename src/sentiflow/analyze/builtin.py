"""`builtin-fast`: sentiflow's own model, a linear classifier over hashed word and character
n-grams, one softmax per task, temperature-calibrated. numpy only at run time.

Trained by `sentiflow train` (analyze/training/); the shipped version lives in
`analyze/artifacts/builtin-fast/`, trained ones under `<data dir>/models/builtin-fast/`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np

from sentiflow.analyze import versions
from sentiflow.analyze.features import Featurizer, FloatArray, scores
from sentiflow.errors import ConfigError
from sentiflow.models import EMOTIONS, SENTIMENTS, Analysis
from sentiflow.settings import Settings

NAME: Final = "builtin-fast"
# Features come from the first characters only: the label of a 50,000-character post is
# settled long before its end, and the cost stays bounded.
MAX_CHARS: Final = 20_000
# Texts per numpy pass: large enough to amortise the vector work, small enough for the cache.
CHUNK: Final = 2_000


def _softmax(logits: FloatArray, temperature: float) -> FloatArray:
    z = logits * np.float32(1.0 / temperature)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class BuiltinFastAnalyzer:
    name = NAME

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

    def probabilities(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        """(n × 3 sentiment, n × 7 emotion) calibrated probabilities, columns in the order of
        `SENTIMENTS` and `EMOTIONS`."""
        clipped = [text[:MAX_CHARS] for text in texts]
        logits = scores(self._featurizer.transform(clipped), self._weights, self._bias, len(texts))
        k = len(SENTIMENTS)
        return (
            _softmax(logits[:, :k], self._temperature[0]),
            _softmax(logits[:, k:], self._temperature[1]),
        )

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        out: list[Analysis] = []
        for start in range(0, len(texts), CHUNK):
            out.extend(self._analyze(texts[start : start + CHUNK]))
        return out

    def _analyze(self, texts: Sequence[str]) -> list[Analysis]:
        if not texts:
            return []
        # float64 before rounding, so 0.9955 stays 0.9955 and not 0.9955000281333923.
        sentiment, emotion = (p.astype(np.float64) for p in self.probabilities(texts))
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
