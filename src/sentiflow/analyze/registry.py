"""Build an analyzer by name. The one place that knows every backend and its module."""

from __future__ import annotations

from collections.abc import Callable

from sentiflow.analyze.base import Analyzer
from sentiflow.errors import ConfigError
from sentiflow.settings import Settings


def _lexicon(settings: Settings) -> Analyzer:
    from sentiflow.analyze.lexicon import LexiconAnalyzer

    return LexiconAnalyzer()


def _builtin_fast(settings: Settings) -> Analyzer:
    from sentiflow.analyze.builtin import BuiltinFastAnalyzer

    return BuiltinFastAnalyzer.from_settings(settings)


BACKENDS: dict[str, Callable[[Settings], Analyzer]] = {
    "builtin-fast": _builtin_fast,
    "lexicon": _lexicon,
}


def build_analyzer(name: str, settings: Settings) -> Analyzer:
    try:
        factory = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(
            f"unknown analyzer {name!r}; choose one of: {known} (SENTIFLOW_ANALYZER or --model)"
        ) from None
    return factory(settings)
