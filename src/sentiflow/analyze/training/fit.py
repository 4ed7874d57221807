"""Fit the `builtin-fast` model: vocabulary, features, one multinomial logistic regression per
task (scikit-learn, the `train` extra), temperature calibration on dev, weights to an `.npz`.

Everything is deterministic for a given seed and data, so a version can be rebuilt exactly.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from sentiflow.analyze.builtin import LanguageHeads
from sentiflow.analyze.features import Block, Featurizer, FloatArray, prepare, scores
from sentiflow.analyze.training.metrics import classification_report
from sentiflow.models import EMOTIONS, SENTIMENTS

LABELS: dict[str, tuple[str, ...]] = {"sentiment": SENTIMENTS, "emotion": EMOTIONS}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class FitConfig:
    """The hyper-parameters; chosen on the dev splits and a slice of UMSAB's train split
    (docs/models.md)."""

    seed: int = 13
    min_count: int = 2
    max_vocabulary: int = 60_000
    bigram_bits: int = 18
    char_bits: int = 19
    char_orders: tuple[int, ...] = (2, 3, 4, 5)
    alpha: dict[str, float] = field(default_factory=lambda: {"sentiment": 1e-5, "emotion": 3e-5})
    epochs: int = 12
    balanced: bool = True
    # Weight of the static word-embedding block (0: no embeddings, n-grams only).
    embedding_weight: float = 3.0
    tune_bias: bool = True
    batch: int = 2_000
    # Distillation: each teacher-labelled text adds one row per class whose teacher
    # probability is at least `soft_min`, weighted by that probability times `soft_weight`
    # (the cross-entropy with the teacher's soft labels, as plain weighted rows).
    soft_weight: float = 1.0
    soft_min: float = 0.05
    # Weight of each gold row in a language other than English: 1,839 UMSAB tweets per
    # language beside ~100,000 English rows and the soft ones would otherwise barely move the
    # shared weights their language depends on.
    language_weight: float = 2.0
    # Each other language's own sentiment head (its gold rows only), added to the shared
    # scores of a text identified as that language: L2 and epochs of its fit, and the share of
    # each language's rows held back to fit the temperature of the sum.
    head_alpha: float = 1e-4
    head_epochs: int = 20
    head_holdout: float = 0.15


def build_vocabulary(texts: Sequence[str], *, min_count: int, max_size: int) -> dict[str, int]:
    """Words seen at least `min_count` times, most frequent first (ties alphabetical), ids
    from 1 (0 is the unknown word)."""
    counts: Counter[str] = Counter()
    for i in range(0, len(texts), 5_000):
        for text in prepare(texts[i : i + 5_000]).split("\x00"):
            counts.update(Featurizer.tokenize(text))
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return {word: i for i, word in enumerate(kept[:max_size], start=1)}


def featurizer_for(vocabulary: dict[str, int], config: FitConfig) -> Featurizer:
    return Featurizer(
        vocabulary,
        bigram_bits=config.bigram_bits,
        char_bits=config.char_bits,
        char_orders=config.char_orders,
        word_means=config.embedding_weight > 0,
    )


def matrix(
    featurizer: Featurizer,
    texts: Sequence[str],
    embeddings: FloatArray | None = None,
    batch: int = 2_000,
) -> Any:
    """The texts' features as a scipy CSR matrix, built from the very blocks inference uses.
    With `embeddings` (V × d, row = word id), the word-mean block becomes d dense columns:
    the mean embedding of the text's known words."""
    from scipy import sparse

    chunks = []
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        blocks = featurizer.transform(chunk)
        x = _to_csr(blocks[:3], len(chunk), featurizer.mean_offset)
        if featurizer.word_means and embeddings is not None:
            ((rows, cols),) = blocks[3].parts
            means = sparse.csr_matrix(
                (blocks[3].scale[rows], (rows, cols - featurizer.mean_offset)),
                shape=(len(chunk), featurizer.n_words),
            )
            x = sparse.hstack([x, sparse.csr_matrix(means @ embeddings)], format="csr")
        chunks.append(x)
    return sparse.vstack(chunks, format="csr")


def _to_csr(blocks: Sequence[Block], n: int, n_features: int) -> Any:
    from scipy import sparse

    rows, cols, values = [], [], []
    for block in blocks:
        for r, c in block.parts:
            rows.append(r)
            cols.append(c)
            values.append(block.scale[r])
    coo = sparse.coo_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n_features),
        dtype=np.float64,
    )
    return coo.tocsr()  # duplicates (a feature twice in a text) are summed here


def fit_task(
    x: Any,
    labels: Sequence[str],
    classes: Sequence[str],
    alpha: float,
    config: FitConfig,
    sample_weight: FloatArray | None = None,
    gold_rows: int | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(weights F × classes, bias) of one logistic regression per class, trained by SGD with
    a fixed seed and epoch count (much faster than L-BFGS here, and as good on dev:
    docs/models.md); columns in `classes` order."""
    from sklearn.linear_model import SGDClassifier

    if config.balanced:
        # Balanced by the gold labels' counts, as sample weights, in every fit: scikit-learn's
        # "balanced" would count each soft row as an example of its class (shrinking exactly
        # the classes the teacher adds), and its one-vs-rest class weights reach only a class's
        # own rows, so a plain fit and a weighted one would not be the same model.
        gold_rows = len(labels) if gold_rows is None else gold_rows
        counts = Counter(labels[:gold_rows])
        per_class = {c: gold_rows / (len(counts) * n) for c, n in counts.items()}
        balance = np.array([per_class.get(label, 1.0) for label in labels], dtype=np.float32)
        sample_weight = balance if sample_weight is None else sample_weight * balance
    model = SGDClassifier(
        loss="log_loss",
        alpha=alpha,
        max_iter=config.epochs,
        tol=None,
        random_state=config.seed,
    )
    model.fit(x, list(labels), sample_weight=sample_weight)
    # A class the data lacks (the yardstick's Reddit fold has no GoEmotions emotions) gets zero
    # weights and a bias that never wins.
    weights = np.zeros((x.shape[1], len(classes)), dtype=np.float32)
    bias = np.full(len(classes), -20.0, dtype=np.float32)
    seen = list(model.classes_)
    # Two classes: scikit-learn keeps one row, the score of the second; [0, row] is the same
    # softmax.
    coef = model.coef_ if len(seen) > 2 else np.vstack([np.zeros_like(model.coef_), model.coef_])
    intercept = model.intercept_ if len(seen) > 2 else np.array([0.0, model.intercept_[0]])
    for column, label in enumerate(classes):
        if label in seen:
            weights[:, column] = coef[seen.index(label)]
            bias[column] = intercept[seen.index(label)]
    return np.ascontiguousarray(weights), bias


def tune_bias(logits: FloatArray, gold: Sequence[int]) -> FloatArray:
    """Per-class offsets that maximise macro-F1 on held-out data (coordinate ascent on a
    grid): the rare classes (fear, disgust) otherwise lose most close calls."""
    target = np.asarray(gold)
    k = logits.shape[1]

    def macro_f1(offset: FloatArray) -> float:
        guess = (logits + offset).argmax(axis=1)
        f1 = []
        for c in range(k):
            tp = float(np.sum((guess == c) & (target == c)))
            denominator = float(np.sum(guess == c) + np.sum(target == c))
            f1.append(2 * tp / denominator if denominator else 0.0)
        return float(sum(f1) / k)

    offset = np.zeros(k, dtype=np.float32)
    for _ in range(2):
        for c in range(k):
            best_value, best_score = offset[c], macro_f1(offset)
            for value in np.linspace(-2, 2, 17, dtype=np.float32):
                trial = offset.copy()
                trial[c] = value
                score = macro_f1(trial)
                if score > best_score + 1e-9:
                    best_value, best_score = value, score
            offset[c] = best_value
    return offset


def softmax(logits: FloatArray, temperature: float = 1.0) -> FloatArray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def fit_temperature(logits: FloatArray, gold: Sequence[int]) -> float:
    """The temperature that minimises the negative log-likelihood on held-out data (a grid,
    then a finer grid around the best point: one parameter, no optimiser needed)."""
    target = np.asarray(gold)

    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(len(target)), target]
        return float(-np.log(np.maximum(p, 1e-12)).mean())

    best = min(np.geomspace(0.05, 20, 60), key=nll)
    return float(min(np.linspace(best * 0.85, best * 1.15, 31), key=nll))


@dataclass
class Fitted:
    vocabulary: dict[str, int]
    config: FitConfig
    weights: FloatArray  # F × (3 sentiment + 7 emotion); the bias offsets are in `bias`
    bias: FloatArray
    temperature: dict[str, float]
    scores: dict[str, dict[str, Any]]
    heads: LanguageHeads | None = None


def with_soft_rows(
    x: Any,
    labels: list[str],
    gold_weight: FloatArray,
    soft_x: Any,
    probs: FloatArray,
    classes: Sequence[str],
    config: FitConfig,
) -> tuple[Any, list[str], FloatArray]:
    """The gold rows (weighted by `gold_weight`) and the teacher's soft rows: (features,
    labels, weights)."""
    from scipy import sparse

    rows, cols = np.nonzero(probs >= config.soft_min)
    weights = np.concatenate([gold_weight, probs[rows, cols] * config.soft_weight])
    stacked = sparse.vstack([x, soft_x[rows]], format="csr")
    return stacked, labels + [classes[int(c)] for c in cols], weights.astype(np.float32)


def fit_model(
    data: dict[str, dict[str, tuple[list[str], list[str]]]],
    config: FitConfig,
    progress: Progress = lambda _: None,
    embed: Callable[[list[str]], FloatArray] | None = None,
    soft: dict[str, tuple[list[str], FloatArray]] | None = None,
    languages: Mapping[str, frozenset[str]] | None = None,
) -> Fitted:
    """`data[task][split]` = (texts, labels) for splits train and dev. Returns the weights,
    offsets and temperature tuned on dev, and the dev scores. `embed(words)` gives each
    vocabulary word's static embedding when `config.embedding_weight` > 0. `soft[task]` =
    (texts, teacher probabilities, columns in the task's class order) to distil from.
    `languages`: each language other than English → its training texts, which weigh
    `config.language_weight` and train that language's own sentiment head."""
    languages = languages or {}
    foreign = frozenset().union(*languages.values())
    all_train = [t for task in LABELS for t in data[task]["train"][0]]
    progress("vocabulary")
    vocabulary = build_vocabulary(
        all_train, min_count=config.min_count, max_size=config.max_vocabulary
    )
    featurizer = featurizer_for(vocabulary, config)
    embeddings = None
    if featurizer.word_means:
        if embed is None:
            raise ValueError("embedding_weight > 0 needs an embed function")
        progress(f"embedding {len(vocabulary):,} words")
        words = sorted(vocabulary, key=vocabulary.__getitem__)
        embeddings = word_table(embed(words), config.embedding_weight)
    weight_blocks, bias_blocks = [], []
    temperature: dict[str, float] = {}
    dev_scores: dict[str, dict[str, Any]] = {}
    unseen: dict[str, FloatArray] = {}
    for task, classes in LABELS.items():
        texts, labels = data[task]["train"]
        progress(f"{task}: features of {len(texts):,} texts")
        x = matrix(featurizer, texts, embeddings, config.batch)
        gold_rows = len(texts)
        sample_weight = np.array(
            [config.language_weight if t in foreign else 1.0 for t in texts], np.float32
        )
        if soft and task in soft:
            soft_texts, probs = soft[task]
            progress(f"{task}: features of {len(soft_texts):,} teacher-labelled texts")
            soft_x = matrix(featurizer, soft_texts, embeddings, config.batch)
            x, labels, sample_weight = with_soft_rows(
                x, list(labels), sample_weight, soft_x, probs, classes, config
            )
        progress(f"{task}: logistic regression")
        weights, bias = fit_task(
            x, labels, classes, config.alpha[task], config, sample_weight, gold_rows
        )
        if task == "sentiment" and foreign:
            progress("sentiment: the same without the rows held back for the language heads")
            unseen = _unseen_scores(x, labels, sample_weight, texts, foreign, config)
        if embeddings is not None:
            # Fold the embedding columns into one row per word: mean(E[w]) @ W = mean(E[w] @ W).
            base = featurizer.mean_offset
            weights = np.vstack([weights[:base], embeddings @ weights[base:]]).astype(np.float32)
        dev_texts, dev_labels = data[task]["dev"]
        index = {label: i for i, label in enumerate(classes)}
        gold = [index[g] for g in dev_labels]
        logits = scores(featurizer.transform(dev_texts), weights, bias, len(dev_texts))
        if config.tune_bias:
            offset = tune_bias(logits, gold)
            bias = bias + offset
            logits = logits + offset
            if task == "sentiment":
                unseen = {text: row + offset for text, row in unseen.items()}
        temperature[task] = fit_temperature(logits, gold)
        predicted = [classes[i] for i in logits.argmax(axis=1)]
        dev_scores[task] = classification_report(dev_labels, predicted, classes)
        weight_blocks.append(weights)
        bias_blocks.append(bias)
    texts, labels = data["sentiment"]["train"]
    rows = {
        lang: (
            [t for t in texts if t in members],
            [y for t, y in zip(texts, labels, strict=True) if t in members],
        )
        for lang, members in languages.items()
    }
    heads = fit_language_heads(featurizer, rows, unseen, config, progress)
    return Fitted(
        vocabulary=vocabulary,
        config=config,
        weights=np.ascontiguousarray(np.hstack(weight_blocks)),
        bias=np.concatenate(bias_blocks).astype(np.float32),
        temperature=temperature,
        scores={"dev": dev_scores},
        heads=heads,
    )


def _held_back(text: str, config: FitConfig) -> bool:
    """Whether a row of another language is among those that fit the language heads'
    temperature: a fixed share, by a hash of the text."""
    return zlib.crc32(text.encode()) % 100 < config.head_holdout * 100


def _unseen_scores(
    x: Any,
    labels: Sequence[str],
    sample_weight: FloatArray,
    texts: Sequence[str],
    foreign: frozenset[str],
    config: FitConfig,
) -> dict[str, FloatArray]:
    """The shared sentiment scores of the held-back rows of the other languages (`_held_back`)
    from a fit without them: a model's scores of its own training rows would look surer than
    they are, and so would a temperature fitted on them. `x` holds the gold rows (`texts`)
    first, then any teacher-labelled ones."""
    held = np.zeros(x.shape[0], dtype=bool)
    held[: len(texts)] = [t in foreign and _held_back(t, config) for t in texts]
    if not held.any():
        return {}
    keep = np.flatnonzero(~held).tolist()
    weights, bias = fit_task(
        x[keep],
        [labels[i] for i in keep],
        LABELS["sentiment"],
        config.alpha["sentiment"],
        config,
        sample_weight[keep],
        gold_rows=len(texts) - int(held.sum()),
    )
    rows = np.flatnonzero(held).tolist()
    logits = np.asarray(x[rows] @ weights, dtype=np.float32) + bias
    return {texts[i]: logits[k] for k, i in enumerate(rows)}


def fit_language_heads(
    featurizer: Featurizer,
    rows: dict[str, tuple[list[str], list[str]]],
    unseen: dict[str, FloatArray],
    config: FitConfig,
    progress: Progress = lambda _: None,
) -> LanguageHeads | None:
    """One sentiment head per language of `rows` (language → its gold texts and labels), over
    the n-gram blocks, to add to the shared model's sentiment scores for a text identified as
    that language.

    The temperature of the sum is fitted on the held-back rows (`_held_back`), each scored by
    a head and a shared model (`unseen`: text → its shared scores) that did not see it; the
    shipped heads are then refitted on every row."""
    index = {label: i for i, label in enumerate(LABELS["sentiment"])}
    held_logits: list[FloatArray] = []
    held_gold: list[int] = []
    heads: dict[str, tuple[FloatArray, FloatArray]] = {}
    for lang, (texts, labels) in sorted(rows.items()):
        if len(set(labels)) < 2:
            continue  # nothing to tell apart (a tiny or filtered training set)
        progress(f"sentiment head for {lang}: {len(texts):,} texts")
        x = matrix(featurizer, texts, None, config.batch)  # the n-gram blocks only
        held = np.array([t in unseen and _held_back(t, config) for t in texts], dtype=bool)
        kept = [y for y, h in zip(labels, held, strict=True) if not h]
        if held.any() and len(set(kept)) > 1:
            weights, bias = _fit_head(x[np.flatnonzero(~held)], kept, config)
            part = [t for t, h in zip(texts, held, strict=True) if h]
            shared = np.vstack([unseen[t] for t in part])
            # `x` already holds the held rows' features: no second pass over their texts.
            own = np.asarray(x[np.flatnonzero(held)] @ weights, dtype=np.float32) + bias
            held_logits.append(shared + own)
            held_gold += [index[y] for y, h in zip(labels, held, strict=True) if h]
        heads[lang] = _fit_head(x, labels, config)
    if not heads:
        return None
    temperature = fit_temperature(np.vstack(held_logits), held_gold) if held_gold else 1.0
    return LanguageHeads.from_dense(heads, temperature)


def _fit_head(x: Any, labels: Sequence[str], config: FitConfig) -> tuple[FloatArray, FloatArray]:
    head = replace(config, epochs=config.head_epochs)
    return fit_task(x, labels, LABELS["sentiment"], config.head_alpha, head)


def word_table(vectors: FloatArray, weight: float) -> FloatArray:
    """Row 0 (unknown word) zero, then each word's unit vector scaled by log(1 + rank), as
    model2vec does: frequent words count less in a text's mean."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    rank = np.arange(1, len(unit) + 1)
    unit = unit * (np.log1p(rank) / np.log1p(len(unit)))[:, None] * weight
    return np.vstack([np.zeros((1, unit.shape[1]), np.float32), unit]).astype(np.float32)


def weights_digest(weights: FloatArray) -> str:
    return hashlib.sha256(np.ascontiguousarray(weights).tobytes()).hexdigest()[:12]


def config_dict(config: FitConfig) -> dict[str, Any]:
    return asdict(config)
