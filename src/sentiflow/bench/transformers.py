"""`sentiflow bench transformers`: texts/s of the transformers analyzer with batching on the
chosen device, on a model built locally with random weights (roberta-base size by default),
beside the same model one text at a time in the same run. Nothing is downloaded.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
EMOTION_LABELS = dict(
    enumerate(["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"])
)


def build_local_model(
    path: Path,
    *,
    id2label: dict[int, str],
    corpus: Iterable[str],
    model_type: str = "bert",
    size: str = "tiny",
    problem_type: str | None = None,
    max_positions: int = 128,
) -> Path:
    """Save a random-weight sequence classifier and a WordPiece tokenizer trained on `corpus`.

    `size` "tiny" is a few thousand parameters (tests); "base" is the architecture's
    defaults (roberta-base: 125M parameters), for speed measurements.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus, WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    options: dict[str, Any] = {
        "vocab_size": tok.get_vocab_size(),
        "num_labels": len(id2label),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
        "pad_token_id": tok.token_to_id("[PAD]"),
        "bos_token_id": tok.token_to_id("[CLS]"),
        "eos_token_id": tok.token_to_id("[SEP]"),
        "problem_type": problem_type,
    }
    if size == "tiny":
        options.update(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=max_positions,
        )
    else:
        options["max_position_embeddings"] = 514 if "roberta" in model_type else 512
    config = AutoConfig.for_model(model_type, **options)
    model = AutoModelForSequenceClassification.from_config(config)  # type: ignore[no-untyped-call]
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def _corpus() -> list[str]:
    from sentiflow.ingest.demo import demo_posts

    return [p["text"] for p in demo_posts()]


def run_transformers(
    *, texts: int, batch_size: int, device: str, model_type: str
) -> dict[str, Any]:
    from sentiflow.analyze.hf import SequenceClassifier, pick_device, require_torch

    require_torch()
    import torch

    chosen = pick_device(device)
    corpus = _corpus()
    items = [corpus[i % len(corpus)] for i in range(texts)]
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-hf-") as tmp:
        built = time.perf_counter()
        model = build_local_model(
            Path(tmp) / "model",
            id2label=SENTIMENT_LABELS,
            corpus=corpus,
            model_type=model_type,
            size="base",
        )
        build_s = time.perf_counter() - built

        def measure(batch: int, n: int) -> float:
            # One model (the sentiment one) through the backend's own batching code.
            classifier = SequenceClassifier(
                str(model), "sentiment", device=chosen, batch_size=batch, label_map={}
            )
            classifier.predict(items[: min(n, 2 * batch)])  # warm up
            if chosen == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for i in range(0, n, 1024):
                classifier.predict(items[i : min(n, i + 1024)])
            if chosen == "cuda":
                torch.cuda.synchronize()
            return n / (time.perf_counter() - started)

        batched = measure(batch_size, texts)
        single = measure(1, max(16, texts // 16))
    return {
        "bench": "transformers",
        "model": f"{model_type} (base size, random weights)",
        "device": chosen,
        "gpu": torch.cuda.get_device_name(0) if chosen == "cuda" else None,
        "texts": texts,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "build_model_s": round(build_s, 1),
        "model_texts_per_s_batched": round(batched, 1),
        "model_texts_per_s_one_at_a_time": round(single, 1),
        "batched_vs_one_at_a_time": round(batched / single, 2),
    }
