"""The cross-domain yardstick (`sentiflow evaluate --cross-domain`): hold out each domain in
turn, train every tier on the rest, score it on the held-out domain; plus in-domain dev scores
of the tiers trained on everything. Splits and sizes are fixed here and in docs/models.md.

Domains (training/data.py `DOMAINS`): tweets (SemEval, TweetEval, UMSAB's English), reviews
(SST, custrev), reddit (GoEmotions) and each non-English UMSAB language. The rows scored for a
domain are a seeded sample of its sentiment dev split (UMSAB: its validation split), the same
rows for the held-out and the in-domain scores.

Tiers:

- `lexicon`: VADER, nothing to train.
- `builtin-accurate`: the fine-tuned MiniLM (training/finetune.py), its training sample less
  the held-out sources.
- `builtin-fast`: today's recipe: every source but the held-out ones (UMSAB's languages
  included), plus the soft labels of the fold's `builtin-accurate` over its training sample.
- `builtin-fast-v1`, `builtin-accurate-v1`: the November 2026 recipes, as the baseline:
  builtin-fast on the English sources only, no teacher; logistic heads over frozen MiniLM
  sentence embeddings averaged with `builtin-fast-v1`.

Every trained model is kept under the cache directory, keyed by its recipe and data, so a
rerun only scores.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from sentiflow.analyze import language
from sentiflow.analyze.training import data
from sentiflow.analyze.training.finetune import (
    BottomCache,
    Example,
    FineTuneConfig,
    trained_top,
    training_examples,
)
from sentiflow.analyze.training.fit import FitConfig
from sentiflow.analyze.training.metrics import classification_report
from sentiflow.errors import ConfigError
from sentiflow.models import SENTIMENTS

# Rows scored per domain: a seeded sample of the domain's dev split (all of it when smaller).
EVAL_CAP: Final = 1_500
EVAL_SEED: Final = 13
TIERS: Final = (
    "lexicon",
    "builtin-fast-v1",
    "builtin-accurate-v1",
    "builtin-fast-gold",
    "builtin-fast",
    "builtin-accurate",
)
# How a fold's builtin-fast is trained: November's (English gold labels), gold labels of every
# carried language without a teacher, or distilled from the fold's fine-tuned MiniLM.
FastRecipe = Literal["v1", "gold", "distil"]
FAST_TIERS: Final[dict[str, FastRecipe]] = {
    "builtin-fast-v1": "v1",
    "builtin-fast-gold": "gold",
    "builtin-fast": "distil",
}
ENGLISH_DOMAINS: Final = ("tweets", "reviews", "reddit")
IN_DOMAIN: Final = "all"  # the fold that holds nothing out

Probs = np.ndarray[Any, np.dtype[np.float32]]
Scorer = Callable[[list[str]], Probs]
Progress = Callable[[str], None]


def held_out_rows(
    domain: str, train_dir: Path | None = None, cap: int = EVAL_CAP
) -> tuple[list[str], list[str]]:
    """(texts, sentiment labels) scored for `domain`: its sources' dev split, sampled."""
    sources = [s for s in data.DOMAINS[domain] if s in data.SOURCES["sentiment"]]
    texts, labels = data.load("sentiment", "dev", train_dir=train_dir, sources=sources)
    pairs = sorted(set(zip(texts, labels, strict=True)))
    random.Random(EVAL_SEED).shuffle(pairs)
    pairs = pairs[:cap]
    return [t for t, _ in pairs], [label for _, label in pairs]


@dataclass
class Yardstick:
    """One run: the tiers and domains asked for, the caches, the settings of the models."""

    cache_dir: Path
    train_dir: Path | None = None
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    cap: int = EVAL_CAP
    fit: FitConfig = field(default_factory=FitConfig)
    fast_limit: int | None = None  # tests train builtin-fast on a few rows
    progress: Progress = lambda _: None
    _bottom: BottomCache | None = None
    _tops: dict[str, Any] = field(default_factory=dict)
    _fast: dict[tuple[str, str], Any] = field(default_factory=dict)

    def bottom(self) -> BottomCache:
        if self._bottom is None:
            c = self.finetune
            self._bottom = BottomCache(self.cache_dir / "accurate", c.frozen_layers, c.max_tokens)
        return self._bottom

    def examples(self, fold: str) -> list[Example]:
        exclude = data.DOMAINS.get(fold, ())
        return training_examples(self.finetune, exclude=exclude, train_dir=self.train_dir)

    def top(self, fold: str) -> Any:
        if fold not in self._tops:
            self.progress(f"builtin-accurate without {fold}: fine-tuning (cached once done)")
            self._tops[fold] = trained_top(
                self.examples(fold), self.bottom(), self.finetune, self.cache_dir / "accurate"
            )
        return self._tops[fold]

    def accurate(self, fold: str) -> Scorer:
        from sentiflow.analyze.training.finetune import top_probs

        top = self.top(fold)

        def score(texts: list[str]) -> Probs:
            self.bottom().fill(texts)
            return top_probs(top, self.bottom(), texts)[0]

        return score

    def fast(self, fold: str, recipe: FastRecipe) -> Scorer:
        key = (fold, recipe)
        if key not in self._fast:
            self._fast[key] = self._train_fast(fold, recipe)
        analyzer = self._fast[key]
        # Each text's language identified, as a worker does, for the language heads.
        return lambda texts: analyzer.probabilities(texts, language.identify(texts))[0]

    def _train_fast(self, fold: str, recipe: FastRecipe) -> Any:
        import hashlib

        from sentiflow.analyze.builtin import BuiltinFastAnalyzer
        from sentiflow.analyze.training.train import train

        exclude = set(data.DOMAINS.get(fold, ()))
        base = data.ENGLISH_SOURCES if recipe == "v1" else data.SOURCES
        sources: dict[str, Sequence[str]] = {
            task: [s for s in base[task] if s not in exclude] for task in data.TASKS
        }
        soft = None
        tag = f"{recipe}-{fold}"
        if recipe == "distil":
            from sentiflow.analyze.training.finetune import top_probs

            examples = self.examples(fold)
            texts = [e.text for e in examples]
            self.bottom().fill(texts)
            sentiment, emotion = top_probs(self.top(fold), self.bottom(), texts)
            soft = {"sentiment": (texts, sentiment), "emotion": (texts, emotion)}
            digest = hashlib.sha256(sentiment.tobytes() + emotion.tobytes()).hexdigest()[:8]
            tag = f"distil-{fold}-{digest}"
        settings = hashlib.sha256(repr((self.fit, self.fast_limit)).encode()).hexdigest()[:8]
        out = self.cache_dir / "fast" / f"{tag}-{settings}"
        if not (out / "model.npz").is_file():
            self.progress(f"builtin-fast ({recipe}) without {fold}: training")
            train(
                settings_models=self.cache_dir / "fast",
                train_dir=self.train_dir,
                seed=13,
                output=out,
                clean_licence=False,
                limit=self.fast_limit,
                sources=sources,
                soft=soft,
                config=self.fit,
            )
        return BuiltinFastAnalyzer(out)

    def accurate_v1(self, fold: str) -> Scorer:
        """Logistic heads over frozen MiniLM sentence embeddings (the pre-trained top on the
        cached bottom, mean-pooled, unit length), averaged with builtin-fast-v1."""
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in self.examples(fold) if e.sentiment >= 0]
        x = self._embeddings([e.text for e in examples])
        head = LogisticRegression(C=4.0, max_iter=3000, random_state=13)
        head.fit(x, [e.sentiment for e in examples])
        fast = self.fast(fold, "v1")

        def score(texts: list[str]) -> Probs:
            probs = np.zeros((len(texts), len(SENTIMENTS)), dtype=np.float32)
            probs[:, head.classes_] = head.predict_proba(self._embeddings(texts))
            return np.asarray(0.5 * probs + 0.5 * fast(texts), dtype=np.float32)

        return score

    def _embeddings(self, texts: list[str]) -> Probs:
        from sentiflow.analyze.training.finetune import pretrained_embeddings

        self.bottom().fill(texts)
        return pretrained_embeddings(self.bottom(), self.finetune.frozen_layers, texts)

    def scorer(self, tier: str, fold: str) -> Scorer:
        if tier == "lexicon":
            from sentiflow.analyze.lexicon import LexiconAnalyzer

            lexicon = LexiconAnalyzer()
            # VADER's label comes from its compound score, not from its pos/neu/neg shares
            # (neutral has the largest share in most texts): score its label, one-hot.
            return lambda texts: np.array(
                [[float(a.sentiment == s) for s in SENTIMENTS] for a in lexicon.analyze(texts)],
                dtype=np.float32,
            )
        if tier == "builtin-accurate":
            return self.accurate(fold)
        if tier == "builtin-accurate-v1":
            return self.accurate_v1(fold)
        if tier in FAST_TIERS:
            return self.fast(fold, FAST_TIERS[tier])
        raise ConfigError(f"unknown tier {tier!r} (--tiers); choose from {', '.join(TIERS)}")


def _english_only(tier: str, domain: str) -> bool:
    """The English-only tiers are not scored on the other languages: they were never meant
    to read them (language identification routes those posts)."""
    return tier in ("lexicon", "builtin-accurate", "builtin-accurate-v1") and domain not in (
        ENGLISH_DOMAINS
    )


def run(
    stick: Yardstick,
    tiers: Sequence[str],
    domains: Sequence[str],
    *,
    hold_out: Sequence[str] | None = None,
    in_domain: bool = True,
) -> dict[str, Any]:
    """{"held_out": {tier: {domain: scores}}, "in_domain": {...}}; scores = n, macro-recall,
    macro-F1 on the domain's rows. `hold_out` narrows the domains held out (default: all of
    `domains`); every domain still gets its in-domain scores."""
    held = list(domains if hold_out is None else hold_out)
    unknown = [d for d in [*domains, *held] if d not in data.DOMAINS]
    if unknown:
        raise ConfigError(
            f"unknown domain(s) {', '.join(unknown)} (--domains); "
            f"choose from {', '.join(data.DOMAINS)}"
        )
    rows = {d: held_out_rows(d, stick.train_dir, stick.cap) for d in domains}
    result: dict[str, Any] = {"held_out": {}, "in_domain": {}, "rows": {}}
    result["rows"] = {d: len(texts) for d, (texts, _) in rows.items()}
    for tier in tiers:
        for domain in held:
            if _english_only(tier, domain) or domain not in domains:
                continue
            stick.progress(f"{tier}, {domain} held out")
            result["held_out"].setdefault(tier, {})[domain] = _score(
                stick.scorer(tier, domain), rows[domain]
            )
        if in_domain:
            stick.progress(f"{tier}, trained on every domain")
            scorer = stick.scorer(tier, IN_DOMAIN)
            for domain in domains:
                if not _english_only(tier, domain):
                    result["in_domain"].setdefault(tier, {})[domain] = _score(scorer, rows[domain])
    return result


def _score(scorer: Scorer, rows: tuple[list[str], list[str]]) -> dict[str, float]:
    texts, gold = rows
    probs = scorer(texts)
    report = classification_report(gold, [SENTIMENTS[i] for i in probs.argmax(axis=1)], SENTIMENTS)
    return {k: report[k] for k in ("n", "macro_recall", "macro_f1")}
