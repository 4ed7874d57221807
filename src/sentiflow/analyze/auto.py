"""`auto`: the accurate tier while the backlog is small, builtin-fast when it grows.

`AutoAnalyzer` holds both tiers and answers with the one it is asked for; the worker's
`TierSwitch` asks for builtin-fast once the broker's backlog passes a high mark and for the
accurate tier again only once it falls under a low one, so a backlog near one mark does not
flip the tier every batch. The accurate tier loads on first need, and builtin-fast answers for
good if it cannot load. In a long-running process (`background`) it loads in a thread while
builtin-fast answers; a one-shot command waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import structlog

from sentiflow.analyze.base import Analyzer, analyze_in
from sentiflow.models import Analysis

log = structlog.get_logger("sentiflow.analyze.auto")

NAME: Final = "auto"


def languages_of(analyzer: Analyzer) -> Mapping[str, frozenset[str]]:
    """Model version → the languages it has training data for (see `analyze/base.py`)."""
    found: Mapping[str, frozenset[str]] = getattr(analyzer, "languages", {})
    return found


class AutoAnalyzer:
    name = NAME
    # Texts in a language the accurate tier lacks go to builtin-fast (`analyze`).
    reads_language = True

    def __init__(
        self, fast: Analyzer, load_accurate: Callable[[], Analyzer], *, accurate_max: int
    ) -> None:
        self.fast = fast
        self.accurate: Analyzer | None = None
        self.accurate_max = accurate_max
        self._load_accurate = load_accurate
        self._loading: threading.Thread | None = None
        self._lock = threading.Lock()
        # Set by the analyzer pools and the ranking channel (analyze/reload.py).
        self.background = False
        self.version = f"{NAME}:{fast.version}"
        self.languages: dict[str, frozenset[str]] = dict(languages_of(fast))

    def analyze(
        self,
        texts: Sequence[str],
        *,
        fast: bool | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[Analysis]:
        """With `fast` unset (a request, a ranked feed), the accurate tier answers up to
        `accurate_max` texts and builtin-fast more; the worker sets it from the backlog. A text
        in a language (`langs`) the accurate tier was not trained on goes to builtin-fast,
        which may know it, rather than get the accurate tier's hedged guess."""
        if fast is None:
            fast = len(texts) > self.accurate_max
        langs = list(langs) if langs is not None else [None] * len(texts)
        accurate = None if fast else self._accurate()
        if accurate is None:
            return analyze_in(self.fast, texts, langs)
        known = languages_of(accurate).get(accurate.version)
        away = {
            i
            for i, lang in enumerate(langs)
            if known is not None and lang is not None and lang not in known
        }
        if not away:
            return accurate.analyze(texts)
        rest = [i for i in range(len(texts)) if i not in away]
        routed = sorted(away)
        found = dict(zip(rest, accurate.analyze([texts[i] for i in rest]), strict=True))
        on_fast = analyze_in(self.fast, [texts[i] for i in routed], [langs[i] for i in routed])
        found.update(zip(routed, on_fast, strict=True))
        return [found[i] for i in range(len(texts))]

    def _accurate(self) -> Analyzer | None:
        with self._lock:
            loading = self._loading
            if self.accurate is None and loading is None:
                loading = self._loading = threading.Thread(
                    target=self._load, name="auto-accurate", daemon=True
                )
                loading.start()
        if loading is not None and not self.background:
            loading.join()
        return self.accurate

    def _load(self) -> None:
        try:
            accurate = self._load_accurate()
            # A first call builds what the model builds lazily (its encoder, exported to ONNX
            # on first use): here, not in a batch that posts wait for.
            accurate.analyze(["warm up"])
        except Exception as exc:
            # Not installed (the accurate extra) or its weights missing: fast answers for good.
            log.warning("auto.accurate_unavailable", error=repr(exc))
            return
        self.languages.update(languages_of(accurate))
        self.version = f"{NAME}:{accurate.version}|{self.fast.version}"
        self.accurate = accurate
        log.info("auto.accurate_ready", version=accurate.version)

    def ready(self, timeout: float | None = None) -> bool:
        """Start loading the accurate tier if needed and wait up to `timeout` seconds for it;
        True once it answers."""
        self._accurate()
        if self._loading is not None:
            self._loading.join(timeout)
        return self.accurate is not None

    def close(self) -> None:
        self.fast.close()
        if self.accurate is not None:
            self.accurate.close()


@dataclass(slots=True)
class TierSwitch:
    """Which tier the next batch gets, from the backlog, with hysteresis: builtin-fast above
    `fast_above` posts, the accurate tier again at or under `accurate_below`."""

    fast_above: int
    accurate_below: int
    fast: bool = False

    def update(self, backlog: int) -> bool:
        """True when the next batch should go to builtin-fast."""
        if self.fast and backlog <= self.accurate_below:
            self.fast = False
            log.info("auto.tier", tier="accurate", backlog=backlog)
        elif not self.fast and backlog > self.fast_above:
            self.fast = True
            log.info("auto.tier", tier="fast", backlog=backlog)
        return self.fast
