"""Keywords and entities of a text, the same way for the signal job and the `trending` scorer,
so that a term the job finds trending is a term the scorer can find in a post.
"""

from __future__ import annotations

import re
from typing import Final

# Short on purpose: words so common that they can never be a topic.
_STOPWORDS = """about above after again against all also and any are because been before being below
    between both but can cannot could did does doing down during each few for from further had
    has have having her here hers herself him himself his how into its itself just let more most
    much must myself nor not now off once only other our ours out over own same she should some
    such than that the their theirs them then there these they this those through too under until
    very was were what when where which while who whom why will with would you your yours
    yourself yourselves get got gets going really still even like one two new via amp http https
    www com don doesn didn isn wasn aren won can't i'm it's that's there's they're we're you're
    i've i'll i'd just today yesterday tomorrow"""
STOPWORDS: Final = frozenset(_STOPWORDS.split())
# Placeholders that datasets put where a name was (the carried Reddit comments' "[NAME]"):
# neither a keyword nor a name.
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]*\]")
_TOKEN = re.compile(r"[#@]?[^\W_][\w'’-]*")
_SENTENCE_END = re.compile(r"[.!?]$")


def terms(text: str) -> set[str]:
    """Lower-cased keywords (words of 3+ letters that are not stop words) and entities
    (#hashtags, @mentions, runs of capitalised words such as "new york"), deduplicated."""
    text = _PLACEHOLDER.sub(" ", text)
    found: set[str] = set()
    run: list[str] = []
    sentence_start = True
    for match in _TOKEN.finditer(text):
        token = match.group()
        word = token.lower().strip("'’-")
        if token[0] in "#@":
            if len(token) > 2:
                found.add(word)
            _flush(run, found)
            sentence_start = False
            continue
        capitalised = token[0].isupper()
        if capitalised and not sentence_start:
            run.append(word)
        else:
            _flush(run, found)
            if capitalised and word not in STOPWORDS:
                run.append(word)  # a sentence's first word is a name only as part of a run
        if len(word) >= 3 and word not in STOPWORDS and not word.isdigit():
            found.add(word)
        end = text[match.end() : match.end() + 1]
        sentence_start = bool(end and _SENTENCE_END.match(end))
    _flush(run, found)
    return found


def _flush(run: list[str], found: set[str]) -> None:
    if len(run) > 1:
        found.add(" ".join(run))
    elif run and run[0] not in STOPWORDS and len(run[0]) >= 2:
        found.add(run[0])
    run.clear()


# A cashtag is a ticker: one to six letters after "$" ("$5" is a price, not a name).
_CASHTAG = re.compile(r"\$[a-z]{1,6}")
_ENTITY_TOKEN = re.compile(r"[#@$]?[^\W_][\w'’-]*")
# Capitalised words that lead a name's run without being part of it ("The Guardian").
_LEADING = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "its",
        "i",
        "we",
        "you",
        "he",
        "she",
        "they",
        "it",
        "i'm",
        "it's",
    ]
)


def entities(text: str) -> set[str]:
    """Lower-cased named entities: #hashtags, @handles, $cashtags and proper-noun phrases
    (runs of capitalised words, "Taylor Swift"; one capitalised word only where it does not
    start a sentence, and without a leading article or pronoun: "The Guardian" is "guardian")."""
    text = _PLACEHOLDER.sub(" ", text)
    found: set[str] = set()
    run: list[str] = []
    starts_sentence = False  # whether the run's first word starts a sentence
    sentence_start = True
    for match in _ENTITY_TOKEN.finditer(text):
        token = match.group()
        word = token.lower().strip("'’-")
        if token[0] in "#@$":
            _flush_names(run, starts_sentence, found)
            if (token[0] != "$" and len(word) > 2) or _CASHTAG.fullmatch(word):
                found.add(word)
        elif token[0].isupper():
            if not run:
                starts_sentence = sentence_start
            run.append(word)
        else:
            _flush_names(run, starts_sentence, found)
        end = text[match.end() : match.end() + 1]
        sentence_start = bool(end and _SENTENCE_END.match(end))
        if sentence_start:
            _flush_names(run, starts_sentence, found)
    _flush_names(run, starts_sentence, found)
    return found


def _flush_names(run: list[str], starts_sentence: bool, found: set[str]) -> None:
    """Add the run of capitalised words as a name, if it is one."""
    first = 0
    while first < len(run) and run[first] in _LEADING:
        first += 1
    name = run[first:]
    if len(name) > 1:
        found.add(" ".join(name))
    elif name and len(name[0]) >= 2 and name[0] not in STOPWORDS and (first or not starts_sentence):
        found.add(name[0])
    run.clear()
