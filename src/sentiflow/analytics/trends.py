"""Keyword trends: the top words, #hashtags and @mentions among negative and among positive
posts in a window, each with its count in the previous window of the same length.

A group of near-duplicates counts once (the store hands one text per group). Words are
lower-cased; stop words of the post's language (stopwordsiso), contraction fragments and
placeholders such as "[NAME]" are skipped; a simple plural counts as its singular.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Final

from sentiflow.errors import ValidationFailed

_WINDOW = re.compile(r"^(\d{1,4})([mhd])$")
_UNITS: Final = {"m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S: Final = 30 * 86400
_TOKEN = re.compile(r"(?P<hashtag>#\w+)|(?P<mention>@\w+)|(?P<word>[^\W\d_][\w']{2,})")
# Placeholders that datasets put where a name was (the carried Reddit comments' "[NAME]").
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]*\]")
# Web and chat noise that no stop word list carries.
_NOISE: Final = frozenset(["http", "https", "www", "com", "amp", "rt", "via", "lol"])
# What is left of a contraction split at its apostrophe ("don't" → "don"), which a text that
# lost its apostrophes writes as a word of its own.
_FRAGMENTS: Final = frozenset(
    [
        "aren",
        "couldn",
        "didn",
        "doesn",
        "don",
        "hadn",
        "hasn",
        "haven",
        "isn",
        "mightn",
        "mustn",
        "needn",
        "shan",
        "shouldn",
        "wasn",
        "weren",
        "wouldn",
        "ll",
        "ve",
        "re",
    ]
)
DEFAULT_LANGUAGE: Final = "en"
_stopwords: dict[str, frozenset[str]] = {}

Term = tuple[str, str]


def stopwords(lang: str | None) -> frozenset[str]:
    """The stop words of `lang` (ISO 639-1; English's when stopwordsiso has none for it),
    with the noise words and contraction fragments."""
    import stopwordsiso

    code = (lang or DEFAULT_LANGUAGE).lower()
    if code not in _stopwords:
        words = stopwordsiso.stopwords(code if stopwordsiso.has_lang(code) else DEFAULT_LANGUAGE)
        _stopwords[code] = frozenset(words) | _NOISE | _FRAGMENTS
    return _stopwords[code]


def parse_window(window: str) -> timedelta:
    match = _WINDOW.match(window.strip().lower())
    if not match:
        raise ValidationFailed(
            f"window {window!r} is not a duration; write e.g. 15m, 1h, 24h or 7d", field="window"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 60 <= seconds <= MAX_WINDOW_S:
        raise ValidationFailed("window must be between 1m and 30d", field="window")
    return timedelta(seconds=seconds)


def _word(token: str, stop: frozenset[str]) -> str | None:
    """The word a token counts as, or None: stop words, contraction fragments and
    contractions go; a possessive or "that's" keeps its stem (a stop word then goes too)."""
    if token in stop:
        return None
    if "'" in token:
        stem, _, rest = token.partition("'")
        if rest != "s" or len(stem) < 3:
            return None
        token = stem
    return None if token in stop else token


def terms(text: str, lang: str | None = None) -> Iterable[Term]:
    """The words (not stop words of `lang`), #hashtags and @mentions of a text, lower-cased;
    placeholders such as "[NAME]" are not words."""
    stop = stopwords(lang)
    text = _PLACEHOLDER.sub(" ", text).replace("\u2019", "'").lower()
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "word"
        token = match.group()
        if kind == "word":
            word = _word(token.strip("'"), stop)
            if word is None:
                continue
            token = word
        yield token, kind


def count(rows: Iterable[tuple[str, str, str | None]], into: dict[str, Counter[Term]]) -> None:
    """Add each row's (text, sentiment, language) terms to the counter of its sentiment."""
    for text, sentiment, lang in rows:
        counter = into.get(sentiment)
        if counter is not None:
            # Once per post: a post repeating a word is one voice, not several.
            found = set(terms(text, lang))
            counter.update(t for t in found if not _plural_of_one_in(t, found))


def _singular(word: str) -> list[str]:
    """Forms `word` may be the simple plural of, most likely first."""
    if len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return []
    forms = []
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    forms.append(word[:-1])
    return forms


def _plural_of_one_in(term: Term, found: set[Term]) -> bool:
    return term[1] == "word" and any((f, "word") in found for f in _singular(term[0]))


def merge_plurals(counter: Counter[Term]) -> Counter[Term]:
    """Count a word's simple plural ("refunds", "batteries") under the word itself, where
    the word is counted too: so "news" stays "news" unless "new" is also there."""
    merged: Counter[Term] = Counter()
    for (term, kind), n in counter.items():
        if kind == "word":
            term = next((f for f in _singular(term) if (f, kind) in counter), term)
        merged[(term, kind)] += n
    return merged


def ranked(current: Counter[Term], previous: Counter[Term], top: int) -> list[dict[str, Any]]:
    current, previous = merge_plurals(current), merge_plurals(previous)
    return [
        {
            "term": term,
            "kind": kind,
            "count": n,
            "previous": previous.get((term, kind), 0),
            "change": round(
                (n - previous.get((term, kind), 0)) / max(previous.get((term, kind), 0), 1), 3
            ),
        }
        for (term, kind), n in current.most_common(top)
    ]
