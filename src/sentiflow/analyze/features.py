"""Text → sparse features for the built-in linear model, in numpy only, a batch at a time.

Three blocks: word unigrams (a fixed vocabulary), word bigrams (hashed vocabulary ids) and
character n-grams (hashed code points, vectorised over the whole batch). Each block's values
are 1/sqrt(its feature count in the text), so long and short texts score on one scale.
Training and inference share `Featurizer.transform`, so the model sees the same features.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Final

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

# Text ends with a separator between texts, so a vectorised n-gram never spans two of them.
_SEP: Final = "\x00"
_URL: Final = re.compile(r"(?:https?://|www\.)[^\s\x00]+")
_MENTION: Final = re.compile(r"@\w+")
# str.replace per pair: str.translate with a dict goes through Python per character.
_QUOTES: Final = (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("`", "'"))
# Words (letters with inner apostrophes), numbers, and the punctuation that carries affect.
_WORD: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[!?]")
_WORD_OR_SEP: Final = re.compile(_WORD.pattern + r"|\x00")
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_PRIME: Final = np.uint64(1_000_003)


def prepare(texts: Sequence[str]) -> str:
    """The batch as one lower-cased string, texts separated by NUL, URLs and mentions
    replaced: the same for training data and live posts."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:
        joined = _SEP.join(text.replace(_SEP, " ") for text in texts)
    joined = joined.lower()
    for curly, straight in _QUOTES:
        if curly in joined:
            joined = joined.replace(curly, straight)
    joined = _URL.sub("http", joined)
    return _MENTION.sub("@user", joined)


@dataclass(frozen=True, slots=True)
class Block:
    """One feature block of a batch, in parts: in each (rows, cols) part `rows[i]` is the text
    and `cols[i]` the feature index of occurrence i, rows ascending. `scale[t]` is the value
    of each occurrence in text t: 1/sqrt(the block's occurrences in t)."""

    parts: list[tuple[IntArray, IntArray]]
    scale: FloatArray


def _block(parts: list[tuple[IntArray, IntArray]], n_texts: int) -> Block:
    counts = np.zeros(n_texts, dtype=np.float32)
    for rows, _ in parts:
        counts += np.bincount(rows, minlength=n_texts)
    scale = (1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32)
    return Block(parts, scale)


class Featurizer:
    """Feature indices: [0, V) words, [V, V+2^bigram_bits) bigrams, then char n-gram buckets."""

    def __init__(
        self,
        vocabulary: dict[str, int],
        *,
        bigram_bits: int,
        char_bits: int,
        char_orders: Sequence[int],
        word_means: bool = False,
    ) -> None:
        # Index 0 is the out-of-vocabulary word: unknown words still form bigrams.
        self.vocabulary = vocabulary
        self._lookup = {**vocabulary, _SEP: -1}.get
        self.n_words = max(vocabulary.values(), default=0) + 1
        self.bigram_bits = bigram_bits
        self.char_bits = char_bits
        self.char_orders = tuple(char_orders)
        self.bigram_offset = self.n_words
        self.char_offset = self.n_words + (1 << bigram_bits)
        self.n_features = self.char_offset + (1 << char_bits)
        # Optional fourth block: the mean over a text's words of a per-word row. Training puts
        # a word's static embedding there; the saved model folds embedding @ weights into it.
        self.word_means = word_means
        self.mean_offset = self.n_features
        if word_means:
            self.n_features += self.n_words

    @staticmethod
    def tokenize(prepared_text: str) -> list[str]:
        return _WORD.findall(prepared_text)

    def transform(self, texts: Sequence[str]) -> list[Block]:
        n = len(texts)
        joined = prepare(texts)
        words, bigrams = self._words(joined, n)
        blocks = [words, bigrams, self._chars(joined, n)]
        if self.word_means:
            ((rows, cols),) = words.parts
            known = cols > 0
            counts = np.bincount(rows[known], minlength=n).astype(np.float32)
            scale = (1.0 / np.maximum(counts, 1.0)).astype(np.float32)
            blocks.append(Block([(rows[known], cols[known] + self.mean_offset)], scale))
        return blocks

    def _words(self, joined: str, n: int) -> tuple[Block, Block]:
        # One findall and one map over the whole batch; the NUL tokens mark the text ends.
        tokens = _WORD_OR_SEP.findall(joined)
        ids = np.fromiter(map(self._lookup, tokens, repeat(0)), dtype=np.int64, count=len(tokens))
        is_sep = ids < 0
        rows = np.cumsum(is_sep, dtype=np.int64)[~is_sep]
        cols = ids[~is_sep]
        words = _block([(rows, cols)], n)
        # A bigram is two neighbours in the same text, hashed from their two word ids.
        same = rows[1:] == rows[:-1]
        pair = cols[:-1][same].astype(np.uint64) * np.uint64(self.n_words) + cols[1:][same].astype(
            np.uint64
        )
        bucket = ((pair * _GOLDEN) >> np.uint64(64 - self.bigram_bits)).astype(np.int64)
        bigrams = _block([(rows[1:][same], bucket + self.bigram_offset)], n)
        return words, bigrams

    def _chars(self, joined: str, n: int) -> Block:
        # Each text padded by a space on both sides so n-grams mark word starts and ends.
        padded = " " + joined.replace(_SEP, " \x00 ") + " "
        codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        is_sep = codes == 0
        text_of = np.cumsum(is_sep, dtype=np.int64)
        parts: list[tuple[IntArray, IntArray]] = []
        shift = np.uint64(64 - self.char_bits)
        for order in self.char_orders:
            m = len(codes) - order + 1
            if m <= 0:
                continue
            h = codes[:m].copy()
            for k in range(1, order):
                h = h * _PRIME + codes[k : k + m]
            h = h * _PRIME + np.uint64(order)
            # Valid: no separator inside the n-gram (same text at both ends, not on a NUL).
            valid = (text_of[:m] == text_of[order - 1 : order - 1 + m]) & ~is_sep[:m]
            bucket = ((h[valid] * _GOLDEN) >> shift).astype(np.int64)
            parts.append((text_of[:m][valid], bucket + self.char_offset))
        return _block(parts, n)


def scores(blocks: Sequence[Block], weights: FloatArray, bias: FloatArray, n: int) -> FloatArray:
    """Linear scores (n × classes): per block, the sum of the weight rows of its features
    scaled by the block's value, plus the bias."""
    out = np.tile(bias, (n, 1)).astype(np.float32)
    texts = np.arange(n, dtype=np.int64)
    for block in blocks:
        total = np.zeros_like(out)
        for rows, cols in block.parts:
            if len(cols) == 0:
                continue
            gathered = np.take(weights, cols, axis=0)  # faster than weights[cols]
            starts = np.searchsorted(rows, texts)
            ends = np.searchsorted(rows, texts, side="right")
            # reduceat needs valid start indices; a text with no feature here adds nothing.
            sums = np.add.reduceat(gathered, np.minimum(starts, len(gathered) - 1), axis=0)
            total += np.where((ends > starts)[:, None], sums, 0.0)
        out += total * block.scale[:, None]
    return out
