"""Build an analyzer by name. The one place that knows every backend and its module; other
packages add backends through the `sentiflow.analyzers` entry points, each naming a callable
that takes the `Settings` and returns an `Analyzer` (a class whose constructor does)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sentiflow import plugins
from sentiflow.analyze.base import Analyzer
from sentiflow.errors import ConfigError
from sentiflow.settings import Settings


def _lexicon(settings: Settings) -> Analyzer:
    from sentiflow.analyze.lexicon import LexiconAnalyzer

    return LexiconAnalyzer()


def _builtin_fast(settings: Settings) -> Analyzer:
    from sentiflow.analyze.builtin import BuiltinFastAnalyzer

    return BuiltinFastAnalyzer.from_settings(settings)


def _transformers(settings: Settings) -> Analyzer:
    from sentiflow.analyze.hf import TransformersAnalyzer

    return TransformersAnalyzer(settings)


def _llm(settings: Settings) -> Analyzer:
    from sentiflow.analyze.llm import LLMAnalyzer

    return LLMAnalyzer.from_settings(settings)


def _accurate(settings: Settings) -> Analyzer:
    from sentiflow.analyze.accurate import AccurateAnalyzer

    return AccurateAnalyzer()


def _auto(settings: Settings) -> Analyzer:
    from sentiflow.analyze.auto import AutoAnalyzer

    return AutoAnalyzer(
        _builtin_fast(settings),
        lambda: _backend("builtin-accurate", settings),
        accurate_max=settings.auto.accurate_batch,
    )


BACKENDS: dict[str, Callable[[Settings], Analyzer]] = {
    "auto": _auto,
    "builtin-accurate": _accurate,
    "builtin-fast": _builtin_fast,
    "lexicon": _lexicon,
    "transformers": _transformers,
    "llm": _llm,
}


def build_analyzer(name: str, settings: Settings) -> Analyzer:
    """One backend by name, or a chain "primary>fallback[>…]" of them.

    The configured analyzer (SENTIFLOW_ANALYZER) gets SENTIFLOW_FALLBACK_ANALYZER appended
    when that is set; every chain link falls back below SENTIFLOW_FALLBACK_BELOW.
    """
    if name == settings.analyzer and settings.fallback_analyzer and ">" not in name:
        name = f"{name}>{settings.fallback_analyzer}"
    links = [part.strip() for part in name.split(">")]
    if len(links) == 1:
        return _backend(name, settings)
    from sentiflow.analyze.chain import ChainAnalyzer

    chain = _backend(links[-1], settings)
    for link in reversed(links[:-1]):
        chain = ChainAnalyzer(_backend(link, settings), chain, below=settings.fallback_below)
    return chain


@cache
def installed() -> dict[str, str]:
    """The analyzers of other packages: name → "module:attribute" (a built-in name wins)."""
    return {
        name: reference
        for name, reference in plugins.table({}, "sentiflow.analyzers").items()
        if name not in BACKENDS
    }


def names() -> list[str]:
    return [*BACKENDS, *installed()]


def _backend(name: str, settings: Settings) -> Analyzer:
    if name in installed():
        made: Analyzer = plugins.load(installed()[name])(settings)
        return made
    try:
        factory = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(names()))
        raise ConfigError(
            f"unknown analyzer {name!r}; choose one of: {known}, or a chain such as "
            "'lexicon>llm' (SENTIFLOW_ANALYZER or --model)"
        ) from None
    return factory(settings)
