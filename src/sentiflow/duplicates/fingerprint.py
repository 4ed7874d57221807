"""SimHash fingerprints: 64 bits per text such that near-identical texts differ in few bits.

A text is normalised first (lower case; a leading "RT @user:", links and @mentions dropped;
only runs of letters and digits kept), so a retweet or a copy with other punctuation has the
very same fingerprint. Its features are its words, each hashed to 64 bits (xxh3, remembered
for the words seen most, as most words of a stream recur); bit i of the fingerprint is set
when most of its words have it set. A batch is computed at once in numpy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import numpy as np
import xxhash

BITS: Final = 64
BANDS: Final = 4  # of 16 bits: two fingerprints within 3 bits share at least one exactly
BAND_BITS: Final = BITS // BANDS
_RETWEET: Final = re.compile(r"^\s*rt\s+@\w+:?", re.IGNORECASE)
_NOISE: Final = re.compile(r"https?://\S+|www\.\S+|@\w+")
_WORD: Final = re.compile(r"[^\W_]+")
_hash = xxhash.xxh3_64_intdigest
_CACHE_SIZE: Final = 200_000
_HASHES: dict[str, int] = {}


def features(text: str) -> list[str]:
    """The words of the normalised text."""
    if "@" in text or "http" in text or "www." in text:  # most texts have none: skip the regexes
        text = _NOISE.sub(" ", _RETWEET.sub("", text))
    words: list[str] = _WORD.findall(text.lower())
    return words


def _hashes(words: list[str]) -> list[int]:
    cache = _HASHES
    found = []
    for word in words:
        value = cache.get(word)
        if value is None:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()  # a rare full reset is cheaper than tracking recency per word
            value = cache[word] = _hash(word.encode())
        found.append(value)
    return found


def fingerprints(texts: Sequence[str]) -> list[int | None]:
    """One 64-bit SimHash per text; None for a text without a word to go by."""
    hashes: list[int] = []
    counts: list[int] = []
    for text in texts:
        found = features(text)
        hashes.extend(_hashes(found))
        counts.append(len(found))
    if not hashes:
        return [None] * len(texts)
    # One row per bit, one column per feature: summing runs of columns (one run per text)
    # along the contiguous axis is what numpy does fast.
    bits = np.unpackbits(
        np.array(hashes, dtype=np.uint64).view(np.uint8).reshape(-1, 8), axis=1, bitorder="little"
    ).T.copy()
    sizes = np.array(counts)
    present = sizes > 0
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[present]
    votes = np.add.reduceat(bits, starts, axis=1, dtype=np.int32).T
    majority = np.ascontiguousarray(votes * 2 > sizes[present][:, None])
    values = np.packbits(majority, axis=1, bitorder="little").view(np.uint64).ravel().tolist()
    found_values = iter(values)
    return [int(next(found_values)) if has else None for has in present.tolist()]


def bands(fingerprint: int) -> list[int]:
    """The fingerprint's `BANDS` chunks of 16 bits, lowest first."""
    mask = (1 << BAND_BITS) - 1
    return [(fingerprint >> (BAND_BITS * i)) & mask for i in range(BANDS)]


def distance(a: int, b: int) -> int:
    """How many bits two fingerprints differ in."""
    return (a ^ b).bit_count()
