"""A chain of analyzers: the primary answers; the fallback answers instead when the primary
fails, and for the texts where the primary's confidence is below a threshold.

Each analysis keeps the `model_version` of the model that actually produced it, so a stored
label always says where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from sentiflow.analyze.base import Analyzer
from sentiflow.errors import ConfigError
from sentiflow.models import Analysis

log = structlog.get_logger("sentiflow.analyze.chain")


class ChainAnalyzer:
    def __init__(self, primary: Analyzer, fallback: Analyzer, *, below: float = 0.0) -> None:
        self.primary = primary
        self.fallback = fallback
        self.below = below
        self.name = f"{primary.name}>{fallback.name}"
        self.version = f"{primary.version}>{fallback.version}"
        self.languages = {
            **getattr(fallback, "languages", {}),
            **getattr(primary, "languages", {}),
        }

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        try:
            results = self.primary.analyze(texts)
        except ConfigError:
            raise
        except Exception as exc:
            # The fallback's own error, if it fails too, is the one worth reporting.
            log.warning("chain.primary_failed", primary=self.primary.name, error=repr(exc))
            return self.fallback.analyze(texts)
        unsure = [
            i
            for i, a in enumerate(results)
            if min(a.sentiment_confidence, a.emotion_confidence) < self.below
        ]
        if not unsure:
            return results
        try:
            second = self.fallback.analyze([texts[i] for i in unsure])
        except ConfigError:
            raise
        except Exception as exc:
            # A low-confidence answer is still an answer: keep it rather than fail the batch.
            log.warning(
                "chain.fallback_failed", fallback=self.fallback.name, n=len(unsure), error=repr(exc)
            )
            return results
        for i, analysis in zip(unsure, second, strict=True):
            results[i] = analysis
        log.debug("chain.fell_back", n=len(unsure), of=len(texts))
        return results

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()
