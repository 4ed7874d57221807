"""SimHash fingerprints: 64 bits per text such that near-identical texts differ in few bits.

A text is normalised first (lower case; a leading "RT @user:", links and @mentions dropped;
only runs of letters and digits kept), so a retweet or a copy with other punctuation has the
very same fingerprint. Its features are its words and word pairs, each hashed to 64 bits
(xxh3); bit i of the fingerprint is set when most features have it set. A batch is computed
at once in numpy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
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


def features(text: str) -> list[str]:
    """The words and adjacent word pairs of the normalised text."""
    words = _WORD.findall(_NOISE.sub(" ", _RETWEET.sub("", text)).lower())
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def fingerprints(texts: Sequence[str]) -> list[int | None]:
    """One 64-bit SimHash per text; None for a text without a word to go by."""
    hashes: list[int] = []
    counts: list[int] = []
    for text in texts:
        found = features(text)
        hashes.extend(_hash(f.encode()) for f in found)
        counts.append(len(found))
    if not hashes:
        return [None] * len(texts)
    bits = np.unpackbits(
        np.array(hashes, dtype=np.uint64).view(np.uint8).reshape(-1, 8), axis=1, bitorder="little"
    )
    sizes = np.array(counts)
    present = sizes > 0
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[present]
    votes = np.add.reduceat(bits.astype(np.int32), starts, axis=0)
    majority = votes * 2 > sizes[present][:, None]
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
