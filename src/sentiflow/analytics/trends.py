"""Keyword trends: the top words, #hashtags and @mentions among negative and among positive
posts in a window, each with its count in the previous window of the same length."""

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
# Function words that would top every list and say nothing about a complaint.
_STOP_TEXT = """
the and for are but not you your yours with this that these those have has had was were
will would can could should just they them their there then than what when where which who
whom why how all any each few more most other some such only own same too very about above
after again against below between into through during before under over out off once here
from our ours she her hers him his its it's i'm i've you're don't can't didn't doesn't
isn't wasn't won't also been being did does doing get got one two yes yeah like really
still even much many well back make made going want know think way because http https www
com amp
"""
STOPWORDS: Final = frozenset(_STOP_TEXT.split())

Term = tuple[str, str]


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


def terms(text: str) -> Iterable[Term]:
    for match in _TOKEN.finditer(text.lower()):
        kind = match.lastgroup or "word"
        token = match.group()
        if kind == "word" and (token in STOPWORDS or token.strip("'") in STOPWORDS):
            continue
        yield token, kind


def count(rows: Iterable[tuple[str, str]], into: dict[str, Counter[Term]]) -> None:
    """Add each row's (text, sentiment) terms to the counter of its sentiment."""
    for text, sentiment in rows:
        counter = into.get(sentiment)
        if counter is not None:
            # Once per post: a post repeating a word is one voice, not several.
            counter.update(set(terms(text)))


def ranked(current: Counter[Term], previous: Counter[Term], top: int) -> list[dict[str, Any]]:
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
