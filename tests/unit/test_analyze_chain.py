"""Chains of real analyzers: lexicon and the llm backend (on the local fake server)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from pydantic import SecretStr

from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import ConfigError
from sentiflow.settings import Settings
from tests.unit.fakellm import FakeLLM, serve_fake_llm


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with serve_fake_llm() as state:
        yield state


@pytest.fixture
def llm_settings(settings: Settings, fake: FakeLLM) -> Settings:
    return settings.model_copy(
        update={
            "llm_base_url": fake.url,
            "llm_api_key": SecretStr("sk-test"),
            "llm_model": "fake-mini",
            "llm_max_retries": 1,
        }
    )


def sent_texts(fake: FakeLLM) -> list[str]:
    return [
        item["text"]
        for r in fake.requests
        for item in orjson.loads(r["body"]["messages"][-1]["content"])["texts"]
    ]


def test_low_confidence_texts_go_to_the_fallback(llm_settings: Settings, fake: FakeLLM) -> None:
    texts = ["it is tuesday", "I love it, I hate it", "the bus left"]
    lexicon = build_analyzer("lexicon", llm_settings).analyze(texts)
    below = 0.99
    unsure = [
        t
        for t, a in zip(texts, lexicon, strict=True)
        if min(a.sentiment_confidence, a.emotion_confidence) < below
    ]
    assert 0 < len(unsure) < len(texts), "the texts must split, or this test proves nothing"

    chain = build_analyzer("lexicon>llm", llm_settings.model_copy(update={"fallback_below": below}))
    results = chain.analyze(texts)
    assert sent_texts(fake) == unsure
    for text, got, first in zip(texts, results, lexicon, strict=True):
        if text in unsure:
            assert got.model_version == "llm:fake-mini"
        else:
            assert got.model_version == "lexicon-1"
            assert got.sentiment == first.sentiment
    assert chain.version == "lexicon-1>llm:fake-mini"


def test_threshold_zero_falls_back_only_on_error(llm_settings: Settings, fake: FakeLLM) -> None:
    results = build_analyzer("lexicon>llm", llm_settings).analyze(["I love it", "meh"])
    assert fake.requests == []
    assert {r.model_version for r in results} == {"lexicon-1"}


def test_a_failing_primary_hands_the_batch_to_the_fallback(
    llm_settings: Settings, fake: FakeLLM
) -> None:
    fake.faults = ["500"] * 10
    results = build_analyzer("llm>lexicon", llm_settings).analyze(["I love it", "awful"])
    assert len(fake.requests) == 2  # one try and one retry, then the chain moves on
    assert [r.model_version for r in results] == ["lexicon-1", "lexicon-1"]
    assert [r.sentiment for r in results] == ["positive", "negative"]


def test_a_failing_fallback_keeps_the_primary_answer(llm_settings: Settings, fake: FakeLLM) -> None:
    fake.faults = ["500"] * 10
    chain = build_analyzer("lexicon>llm", llm_settings.model_copy(update={"fallback_below": 1.1}))
    results = chain.analyze(["I love it"])
    assert results[0].model_version == "lexicon-1"
    assert len(fake.requests) == 2


def test_settings_fallback_applies_to_the_configured_analyzer(
    llm_settings: Settings, fake: FakeLLM
) -> None:
    configured = llm_settings.model_copy(
        update={"analyzer": "lexicon", "fallback_analyzer": "llm", "fallback_below": 1.1}
    )
    assert build_analyzer("lexicon", configured).version == "lexicon-1>llm:fake-mini"


async def test_the_pool_runs_a_chain(llm_settings: Settings, fake: FakeLLM) -> None:
    pool = AnalyzerPool(
        llm_settings.model_copy(update={"fallback_below": 1.1}), name="lexicon>llm", processes=0
    )
    try:
        results = await pool.analyze(["I love it"])
    finally:
        pool.close()
    assert results[0].model_version == "llm:fake-mini"
    assert pool.version == "lexicon-1>llm:fake-mini"


def test_a_misconfigured_link_fails_at_build(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="SENTIFLOW_LLM_API_KEY"):
        build_analyzer("lexicon>llm", settings)
    with pytest.raises(ConfigError, match="unknown analyzer 'nope'"):
        build_analyzer("lexicon>nope", settings)
