"""`transformers`: any Hugging Face sequence-classification model, by hub name or directory.

Separate sentiment and emotion models, loaded lazily on the first batch from local files only
(nothing is downloaded at run time), run in length-sorted batches on CUDA when present, with
every text cut to the model's maximum length. Labels go through `labels.py`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog

from sentiflow.analyze.labels import Task, fold_probs, label_table
from sentiflow.errors import ConfigError
from sentiflow.models import Analysis
from sentiflow.settings import Settings

if TYPE_CHECKING:
    from sentiflow.analyze.base import Analyzer

log = structlog.get_logger("sentiflow.analyze.hf")

INSTALL_HINT: Final = "pip install 'sentiflow[transformers]'"
# A token is rarely shorter than 1 character or longer than ~20, so cutting the raw text at
# this many characters per allowed token never changes what the model sees, while sparing the
# tokenizer a 50,000-character post.
_CHARS_PER_TOKEN: Final = 20
# These architectures number positions from padding_idx + 1, so two positions are unusable.
_OFFSET_POSITIONS: Final = ("roberta", "xlm-roberta", "camembert", "longformer", "bertweet")


def require_torch() -> None:
    """Fail at start, not at the first batch, when the extra is not installed."""
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the transformers analyzer needs {' and '.join(missing)}, which are not installed; "
            f"run {INSTALL_HINT} or choose another analyzer (SENTIFLOW_ANALYZER)"
        )


def pick_device(wanted: str) -> str:
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "SENTIFLOW_DEVICE=cuda but torch sees no CUDA device; install a CUDA build of torch "
            "or set SENTIFLOW_DEVICE=auto or cpu"
        )
    return wanted


def model_version(name: str) -> str:
    """A short, stable id of a model: its name, and for a directory a hash of its config."""
    path = Path(name)
    config = path / "config.json"
    if config.is_file():
        digest = hashlib.sha256(config.read_bytes()).hexdigest()[:8]
        return f"{path.name}@{digest}"
    return name


class SequenceClassifier:
    """One model for one task: texts in, canonical probabilities out."""

    def __init__(
        self,
        name: str,
        task: Task,
        *,
        device: str,
        batch_size: int,
        label_map: dict[str, str],
    ) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        env = (
            "SENTIFLOW_HF_SENTIMENT_MODEL" if task == "sentiment" else "SENTIFLOW_HF_EMOTION_MODEL"
        )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the {task} model {name!r} from local files ({exc}); sentiflow "
                f"never downloads at run time: fetch it once with `hf download {name}` or point "
                f"{env} at a directory holding config.json, the weights and the tokenizer"
            ) from None
        self.task = task
        self.device = device
        self.batch_size = batch_size
        self.model: Any = model.to(device).eval()
        config = model.config
        self.table = label_table(config.id2label, task, overrides=label_map)
        self.multi_label = config.problem_type == "multi_label_classification"
        limit = int(getattr(config, "max_position_embeddings", 512) or 512)
        if any(kind in str(config.model_type) for kind in _OFFSET_POSITIONS):
            limit -= 2
        tokenizer_limit = int(self.tokenizer.model_max_length or limit)
        self.max_length = max(8, min(limit, tokenizer_limit))
        log.info(
            "model.loaded",
            task=task,
            model=name,
            device=device,
            max_length=self.max_length,
            labels=",".join(f"{config.id2label[i]}={c}" for i, c in enumerate(self.table)),
        )

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        import torch

        cut = self.max_length * _CHARS_PER_TOKEN
        # Sorting by length keeps padding, and so wasted compute, small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[dict[str, float]] = [{} for _ in texts]
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [texts[i][:cut] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**encoded).logits.float()
            probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
            for i, row in zip(idx, probs.cpu().tolist(), strict=True):
                out[i] = fold_probs(row, self.table, self.task)
        return out


class TransformersAnalyzer:
    name = "transformers"

    def __init__(self, settings: Settings) -> None:
        require_torch()
        self._settings = settings
        self._emotion_name = settings.hf_emotion_model or None
        self.version = "transformers:" + model_version(settings.hf_sentiment_model)
        if self._emotion_name:
            self.version += "+" + model_version(self._emotion_name)
        else:
            self.version += "+lexicon"
        self._sentiment: SequenceClassifier | None = None
        self._emotion: SequenceClassifier | Analyzer | None = None

    def load(self) -> None:
        """Load both models now (otherwise the first batch does)."""
        s = self._settings
        device = pick_device(s.device)
        common: dict[str, Any] = {
            "device": device,
            "batch_size": s.hf_batch_size,
            "label_map": s.hf_label_map,
        }
        self._sentiment = SequenceClassifier(s.hf_sentiment_model, "sentiment", **common)
        if self._emotion_name:
            self._emotion = SequenceClassifier(self._emotion_name, "emotion", **common)
        else:
            from sentiflow.analyze.lexicon import LexiconAnalyzer

            self._emotion = LexiconAnalyzer()

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        if self._sentiment is None:
            self.load()
        assert self._sentiment is not None and self._emotion is not None
        sentiments = self._sentiment.predict(texts)
        if isinstance(self._emotion, SequenceClassifier):
            emotions = self._emotion.predict(texts)
        else:
            emotions = [a.emotion_probs for a in self._emotion.analyze(texts)]
        now = datetime.now(UTC)
        results = []
        for sp, ep in zip(sentiments, emotions, strict=True):
            results.append(Analysis.from_probs(sp, ep, model_version=self.version, analyzed_at=now))
        return results

    def close(self) -> None:
        """Nothing to release beyond memory."""
