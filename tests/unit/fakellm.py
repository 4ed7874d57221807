"""A fake OpenAI-compatible chat-completions server for the llm analyzer's tests: a real
HTTP server on a free port in a thread, with scripted faults (429, 500, malformed answers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


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


@contextmanager
def serve_fake_llm() -> Iterator[FakeLLM]:
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
