"""The llm analyzer against a local fake chat-completions server (a real HTTP server on a
free port in a thread): batching, retries on 429/500, Retry-After, malformed answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from sentiflow.analyze.llm import LLMAnalyzer, parse_answer
from sentiflow.analyze.registry import build_analyzer
from sentiflow.errors import ConfigError, Unavailable
from sentiflow.settings import Settings


def label(text: str) -> dict[str, Any]:
    """The fake model's rule, so a test knows the right answer per text."""
    if "love" in text:
        return {"sentiment": "POS", "emotion": "love", "c": 0.9}
    if "hate" in text:
        return {"sentiment": "negative", "emotion": "anger", "c": 0.8}
    return {"sentiment": "neutral", "emotion": "neutral", "c": 0.6}


@dataclass
class FakeLLM:
    """Answers like OpenAI's chat completions; `faults` are served first, one per request."""

    faults: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, body: dict[str, Any], fault: str | None) -> tuple[int, dict[str, str], bytes]:
        if fault == "429":
            return 429, {"Retry-After": "0"}, b'{"error": {"message": "rate limited"}}'
        if fault == "429-wait":
            return 429, {"Retry-After": "1"}, b'{"error": {"message": "rate limited"}}'
        if fault == "500":
            return 500, {}, b'{"error": {"message": "boom"}}'
        if fault == "401":
            return 401, {}, b'{"error": {"message": "bad key"}}'
        texts = orjson.loads(body["messages"][-1]["content"])["texts"]
        results = []
        for item in texts:
            got = label(item["text"])
            results.append(
                {
                    "id": item["id"],
                    "sentiment": got["sentiment"],
                    "sentiment_confidence": got["c"],
                    "emotion": got["emotion"],
                    "emotion_confidence": got["c"],
                }
            )
        if fault == "missing-id":
            results = results[1:]
        content = orjson.dumps({"results": results}).decode()
        if fault == "not-json":
            content = "Sure! Here are the labels: positive, negative"
        if fault == "fenced":
            content = f"```json\n{content}\n```"
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        return 200, {"Content-Type": "application/json"}, orjson.dumps(completion)


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    state = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert self.path == "/v1/chat/completions"
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                state.times.append(time.monotonic())
                fault = state.faults.pop(0) if state.faults else None
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                time.sleep(state.delay)  # simulated model latency, to overlap requests
                status, headers, payload = state.answer(body, fault)
            finally:
                with state.lock:
                    state.in_flight -= 1
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


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
        "positive", "negative", "neutral", "positive", "neutral", "negative"
    ]
    assert [r.emotion for r in results] == ["joy", "anger", "neutral", "joy", "neutral", "anger"]
    assert results[0].sentiment_confidence == 0.9
    assert sum(results[0].sentiment_probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert results[1].polarity < 0 < results[0].polarity
    assert {r.model_version for r in results} == {"llm:fake-mini"}
    # Six texts at four per prompt: two requests, each with the key and JSON mode.
    assert len(fake.requests) == 2
    sizes = [len(orjson.loads(r["body"]["messages"][-1]["content"])["texts"]) for r in fake.requests]
    assert sorted(sizes) == [2, 4]
    assert all(r["auth"] == "Bearer sk-test" for r in fake.requests)
    assert all(r["body"]["response_format"] == {"type": "json_object"} for r in fake.requests)


def test_long_texts_are_cut_before_they_cost_tokens(fake: FakeLLM) -> None:
    client(fake, max_chars=100).analyze(["love " * 10_000])
    sent = orjson.loads(fake.requests[0]["body"]["messages"][-1]["content"])["texts"][0]["text"]
    assert len(sent) == 100


@pytest.mark.parametrize("faults", [["429", "500"], ["500", "500", "500"], ["not-json"],
                                    ["missing-id", "fenced"]])
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
    configured = settings.model_copy(update={"llm_base_url": fake.url, "llm_api_key": SecretStr("k")})
    assert build_analyzer("llm", configured).analyze(["love"])[0].sentiment == "positive"


def test_parse_answer_rejects_labels_outside_the_sets() -> None:
    bad = '{"results": [{"id": 1, "sentiment": "great", "sentiment_confidence": 1,'
    bad += ' "emotion": "joy", "emotion_confidence": 1}]}'
    with pytest.raises(Exception, match="malformed"):
        parse_answer(bad, 1)
