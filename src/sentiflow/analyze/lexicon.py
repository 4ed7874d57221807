"""`lexicon`: VADER for sentiment and a small hand-made word list for emotion.

Fast to start, needs no training; the baseline the built-in model is measured against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from sentiflow.models import EMOTIONS, Analysis, Emotion, Sentiment, argmax_label

VERSION: Final = "lexicon-1"

# Word stems per emotion; a token counts when it starts with a stem. Written for sentiflow
# (no third-party lexicon), kept short so it stays a readable baseline.
EMOTION_STEMS: Final[dict[Emotion, tuple[str, ...]]] = {
    "anger": (
        "angr",
        "anger",
        "furious",
        "fury",
        "rage",
        "mad",
        "hate",
        "hating",
        "annoy",
        "irritat",
        "pissed",
        "outrag",
        "livid",
        "infuriat",
        "frustrat",
        "resent",
        "hostil",
        "damn",
        "wtf",
        "ridiculous",
        "unacceptable",
        "scam",
        "worst",
    ),
    "disgust": (
        "disgust",
        "gross",
        "nasty",
        "vile",
        "revolting",
        "sickening",
        "yuck",
        "ew",
        "repuls",
        "creepy",
        "filthy",
        "pathetic",
        "awful",
        "horrible",
        "terrible",
        "trash",
    ),
    "fear": (
        "afraid",
        "fear",
        "scared",
        "scary",
        "terrif",
        "frighten",
        "anxious",
        "anxiety",
        "worr",
        "nervous",
        "panic",
        "dread",
        "horrif",
        "threat",
        "danger",
        "unsafe",
        "alarm",
    ),
    "joy": (
        "happy",
        "happi",
        "joy",
        "love",
        "lovely",
        "great",
        "awesome",
        "amazing",
        "wonderful",
        "glad",
        "excit",
        "delight",
        "fantastic",
        "best",
        "enjoy",
        "thank",
        "grateful",
        "fun",
        "beautiful",
        "perfect",
        "excellent",
        "congrat",
        "proud",
        "yay",
        "lol",
        "haha",
    ),
    "sadness": (
        "sad",
        "unhappy",
        "depress",
        "cry",
        "crying",
        "tears",
        "miserable",
        "heartbroken",
        "lonely",
        "grief",
        "griev",
        "sorrow",
        "disappoint",
        "miss",
        "lost",
        "sorry",
        "regret",
        "hurt",
        "upset",
        "unfortunat",
    ),
    "surprise": (
        "surpris",
        "wow",
        "whoa",
        "omg",
        "unexpected",
        "shock",
        "astonish",
        "amaz",
        "stunn",
        "unbelievabl",
        "wait",
        "really",
        "seriously",
        "what",
    ),
}
_TOKEN = re.compile(r"[a-z']+")


class LexiconAnalyzer:
    name = "lexicon"
    version = VERSION

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._stems = [(emotion, stems) for emotion, stems in EMOTION_STEMS.items()]

    # VADER's lexicon and the emotion stems are English.
    languages: Final = {VERSION: frozenset({"en"})}

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        now = datetime.now(UTC)
        return [self._one(text, now) for text in texts]

    def _one(self, text: str, now: datetime) -> Analysis:
        scores = self._vader.polarity_scores(text)
        compound = float(scores["compound"])
        sentiment: Sentiment
        if compound >= 0.05:
            sentiment = "positive"
        elif compound <= -0.05:
            sentiment = "negative"
        else:
            sentiment = "neutral"
        sentiment_probs = {
            "negative": float(scores["neg"]),
            "neutral": float(scores["neu"]),
            "positive": float(scores["pos"]),
        }
        # The label follows the compound score, so the confidence is that score's distance
        # from the neutral band (|compound| < 0.05), scaled to 0.5..1.
        confidence = 1.0 - 10 * abs(compound) if sentiment == "neutral" else 0.5 + abs(compound) / 2
        emotion_probs = self._emotions(text, sentiment)
        emotion, emotion_confidence = argmax_label(emotion_probs)
        return Analysis(
            sentiment=sentiment,
            sentiment_confidence=round(confidence, 4),
            sentiment_probs=sentiment_probs,
            polarity=compound,
            emotion=emotion,  # type: ignore[arg-type]
            emotion_confidence=round(emotion_confidence, 4),
            emotion_probs=emotion_probs,
            model_version=VERSION,
            analyzed_at=now,
        )

    def _emotions(self, text: str, sentiment: Sentiment) -> dict[str, float]:
        hits = dict.fromkeys(EMOTIONS, 0.0)
        for token in _TOKEN.findall(text.lower()):
            for emotion, stems in self._stems:
                if token.startswith(stems):
                    hits[emotion] += 1.0
        # Sentiment breaks ties and keeps a joyful word in a negative post from winning.
        if sentiment == "positive":
            hits["joy"] += 0.5
        elif sentiment == "negative":
            for emotion in ("anger", "sadness", "disgust", "fear"):
                hits[emotion] *= 1.5
            hits["joy"] *= 0.3
        hits["neutral"] = 1.0
        total = sum(hits.values())
        return {emotion: round(count / total, 4) for emotion, count in hits.items()}

    def close(self) -> None:
        """Nothing to release: the lexicon is plain data."""
