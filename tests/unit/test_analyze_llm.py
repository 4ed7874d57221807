"""The llm analyzer against a local fake chat-completions server (a real HTTP server on a
free port in a thread): batching, retries on 429/500, Retry-After, malformed answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from sentiflow.analyze.llm import LLMAnalyzer, parse_answer
from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import ConfigError, Unavailable
from sentiflow.settings import Settings
from tests.unit.fakellm import FakeLLM, serve_fake_llm


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with serve_fake_llm() as state:
        yield state


def client(fake: FakeLLM, **options: Any) -> LLMAnalyzer:
    defaults: dict[str, Any] = {
        "base_url": fake.url,
        "api_key": "sk-test",
        "model": "fake-mini",
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
    }
    return LLMAnalyzer(**{**defaults, **options})


TEXTS = ["I love it", "I hate waiting", "it is tuesday", "love love", "meh", "hate this"]


def test_labels_are_canonical_in_order_and_batched(fake: FakeLLM) -> None:
    analyzer = client(fake, batch_size=4)
    results = analyzer.analyze(TEXTS)
    assert [r.sentiment for r in results] == [
        "positive",
        "negative",
        "neutral",
        "positive",
        "neutral",
        "negative",
    ]
    assert [r.emotion for r in results] == ["joy", "anger", "neutral", "joy", "neutral", "anger"]
    assert results[0].sentiment_confidence == 0.9
    assert sum(results[0].sentiment_probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert results[1].polarity < 0 < results[0].polarity
    assert {r.model_version for r in results} == {"llm:fake-mini"}
    # Six texts at four per prompt: two requests, each with the key and JSON mode.
    assert len(fake.requests) == 2
    sizes = [
        len(orjson.loads(r["body"]["messages"][-1]["content"])["texts"]) for r in fake.requests
    ]
    assert sorted(sizes) == [2, 4]
    assert all(r["auth"] == "Bearer sk-test" for r in fake.requests)
    assert all(r["body"]["response_format"] == {"type": "json_object"} for r in fake.requests)


def test_long_texts_are_cut_before_they_cost_tokens(fake: FakeLLM) -> None:
    client(fake, max_chars=100).analyze(["love " * 10_000])
    sent = orjson.loads(fake.requests[0]["body"]["messages"][-1]["content"])["texts"][0]["text"]
    assert len(sent) == 100


@pytest.mark.parametrize(
    "faults", [["429", "500"], ["500", "500", "500"], ["not-json"], ["missing-id", "fenced"]]
)
def test_transient_failures_and_malformed_answers_are_retried(
    fake: FakeLLM, faults: list[str]
) -> None:
    fake.faults = list(faults)
    results = client(fake).analyze(["I love it", "I hate it"])
    assert [r.sentiment for r in results] == ["positive", "negative"]
    assert len(fake.requests) == len(faults) + (0 if faults[-1] == "fenced" else 1)


def test_retry_after_is_honoured(fake: FakeLLM) -> None:
    fake.faults = ["429-wait"]
    client(fake).analyze(["I love it"])
    assert len(fake.times) == 2
    assert fake.times[1] - fake.times[0] >= 0.95


def test_gives_up_after_the_retries_with_a_clear_error(fake: FakeLLM) -> None:
    fake.faults = ["500"] * 10
    with pytest.raises(Unavailable, match=r"after 3 attempts.*SENTIFLOW_LLM_MAX_RETRIES"):
        client(fake, max_retries=2).analyze(["x"])
    assert len(fake.requests) == 3


def test_malformed_every_time_is_an_error_not_a_guess(fake: FakeLLM) -> None:
    fake.faults = ["not-json"] * 10
    with pytest.raises(Unavailable, match="not JSON"):
        client(fake, max_retries=1).analyze(["x"])


def test_a_refused_key_fails_at_once_naming_the_variable(fake: FakeLLM) -> None:
    fake.faults = ["401"]
    with pytest.raises(ConfigError, match="SENTIFLOW_LLM_API_KEY"):
        client(fake).analyze(["x"])
    assert len(fake.requests) == 1


def test_concurrency_is_limited(fake: FakeLLM) -> None:
    fake.delay = 0.05
    client(fake, batch_size=1, concurrency=2).analyze(["x"] * 8)
    assert len(fake.requests) == 8
    assert fake.max_in_flight == 2


def test_key_is_required_only_when_selected(settings: Settings, fake: FakeLLM) -> None:
    with pytest.raises(ConfigError, match="SENTIFLOW_LLM_API_KEY"):
        build_analyzer("llm", settings)
    build_analyzer("lexicon", settings)
    configured = settings.model_copy(
        update={"llm_base_url": fake.url, "llm_api_key": SecretStr("k")}
    )
    assert build_analyzer("llm", configured).analyze(["love"])[0].sentiment == "positive"


def test_parse_answer_rejects_labels_outside_the_sets() -> None:
    bad = '{"results": [{"id": 1, "sentiment": "great", "sentiment_confidence": 1,'
    bad += ' "emotion": "joy", "emotion_confidence": 1}]}'
    with pytest.raises(Exception, match="malformed"):
        parse_answer(bad, 1)
