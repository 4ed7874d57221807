"""`llm`: labels from an OpenAI-compatible chat-completions API, as strict JSON.

Cost-aware: many texts share one prompt (the instructions are paid once per batch), texts are
cut to a bound, and answers are capped in tokens. Requests run a few at a time, time out,
and are retried with exponential backoff and jitter on 429 (honouring Retry-After), 5xx,
transport errors and malformed answers; anything else fails fast with what to do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
import orjson
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from sentiflow.analyze.labels import Task, canonical_label
from sentiflow.errors import ConfigError, Unavailable
from sentiflow.models import EMOTIONS, SENTIMENTS, Analysis
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.analyze.llm")

SYSTEM_PROMPT: Final = (
    "You label the sentiment and emotion of short social-media texts. The user sends JSON "
    '{"texts": [{"id": int, "text": str}, ...]}. Answer with JSON only, no prose: '
    '{"results": [{"id": int, "sentiment": one of negative|neutral|positive, '
    '"sentiment_confidence": 0..1, "emotion": one of '
    "anger|disgust|fear|joy|sadness|surprise|neutral, "
    '"emotion_confidence": 0..1}, ...]} with exactly one result per id.'
)
# Enough output tokens for one result object per text, plus slack.
_TOKENS_PER_TEXT: Final = 48
_RETRY_AFTER_MAX_S: Final = 60.0
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class Retryable(Exception):
    """A failure worth another try: rate limit, server error, transport error, bad answer."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _RETRY_AFTER_MAX_S)


class _Wait:
    """Retry-After when the server gave one, else exponential backoff with full jitter."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self._jitter = wait_random_exponential(multiplier=base_s, max=max_s)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._jitter(state))


def parse_answer(content: str, n: int) -> list[dict[str, Any]]:
    """The validated result objects of one answer, in id order, or Retryable saying why."""
    try:
        data = orjson.loads(_FENCE.sub("", content.strip()))
    except orjson.JSONDecodeError:
        raise Retryable(f"answer is not JSON: {content[:200]!r}") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise Retryable("answer has no 'results' list")
    by_id: dict[int, dict[str, Any]] = {}
    for item in results:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise Retryable(f"result without an integer id: {item!r}"[:200])
        by_id[item["id"]] = item
    if sorted(by_id) != list(range(1, n + 1)):
        raise Retryable(f"answer covers ids {sorted(by_id)[:20]}, expected 1..{n}")
    parsed = []
    for i in range(1, n + 1):
        item = by_id[i]
        try:
            sentiment = canonical_label(str(item["sentiment"]), "sentiment")
            emotion = canonical_label(str(item["emotion"]), "emotion")
            s_conf = float(item["sentiment_confidence"])
            e_conf = float(item["emotion_confidence"])
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise Retryable(f"result {i} is malformed: {exc}") from None
        if not (0.0 <= s_conf <= 1.0 and 0.0 <= e_conf <= 1.0):
            raise Retryable(f"result {i} has a confidence outside 0..1")
        parsed.append(
            {"sentiment": sentiment, "s_conf": s_conf, "emotion": emotion, "e_conf": e_conf}
        )
    return parsed


def _spread(label: str, confidence: float, task: Task) -> dict[str, float]:
    """The label gets its confidence; the other labels share the rest evenly."""
    labels = SENTIMENTS if task == "sentiment" else EMOTIONS
    rest = (1.0 - confidence) / (len(labels) - 1)
    return {name: round(confidence if name == label else rest, 4) for name in labels}


class LLMAnalyzer:
    name = "llm"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        concurrency: int = 4,
        batch_size: int = 20,
        max_chars: int = 2_000,
        backoff_s: float = 0.5,
        backoff_max_s: float = 20.0,
    ) -> None:
        self.version = f"llm:{model}"
        self.model = model
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.concurrency = concurrency
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers={"Authorization": f"Bearer {api_key}"},
            limits=httpx.Limits(max_connections=concurrency),
        )
        self._attempts = max_retries + 1
        self._retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=_Wait(backoff_s, backoff_max_s),
            retry=retry_if_exception_type(Retryable),
            reraise=True,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMAnalyzer:
        if settings.llm_api_key is None:
            raise ConfigError(
                "the llm analyzer is selected but SENTIFLOW_LLM_API_KEY is not set; set it to "
                "the API key of the service at SENTIFLOW_LLM_BASE_URL",
                field="SENTIFLOW_LLM_API_KEY",
            )
        return cls(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value(),
            model=settings.llm_model,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            concurrency=settings.llm_concurrency,
            batch_size=settings.llm_batch_size,
            max_chars=settings.llm_max_chars,
        )

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(self._label_chunk, chunks))
        now = datetime.now(UTC)
        results = []
        for answer in answers:
            for item in answer:
                sp = _spread(item["sentiment"], item["s_conf"], "sentiment")
                results.append(
                    Analysis(
                        sentiment=item["sentiment"],
                        sentiment_confidence=item["s_conf"],
                        sentiment_probs=sp,
                        polarity=round(sp["positive"] - sp["negative"], 4),
                        emotion=item["emotion"],
                        emotion_confidence=item["e_conf"],
                        emotion_probs=_spread(item["emotion"], item["e_conf"], "emotion"),
                        model_version=self.version,
                        analyzed_at=now,
                    )
                )
        return results

    def _label_chunk(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        body = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": 32 + _TOKENS_PER_TEXT * len(texts),
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": orjson.dumps(
                        {
                            "texts": [
                                {"id": i, "text": t[: self.max_chars]}
                                for i, t in enumerate(texts, start=1)
                            ]
                        }
                    ).decode(),
                },
            ],
        }
        try:
            return self._retrying(self._request, body, len(texts))
        except Retryable as exc:
            raise Unavailable(
                f"the LLM API at {self._url} failed after {self._attempts} attempts ({exc}); "
                "check the service, or raise SENTIFLOW_LLM_MAX_RETRIES",
                part="llm",
            ) from None

    def _request(self, body: dict[str, Any], n: int) -> list[dict[str, Any]]:
        try:
            response = self._client.post(self._url, content=orjson.dumps(body))
        except httpx.TransportError as exc:
            log.warning("llm.transport_error", error=repr(exc))
            raise Retryable(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("retry-after"))
            log.warning("llm.retry", status=status, retry_after=retry_after)
            raise Retryable(f"HTTP {status}", retry_after=retry_after)
        if status in (401, 403):
            raise ConfigError(
                f"the LLM API at {self._url} refused the key (HTTP {status}); check "
                "SENTIFLOW_LLM_API_KEY",
                field="SENTIFLOW_LLM_API_KEY",
            )
        if status >= 400:
            raise ConfigError(
                f"the LLM API at {self._url} rejected the request (HTTP {status}: "
                f"{response.text[:200]}); check SENTIFLOW_LLM_MODEL and SENTIFLOW_LLM_BASE_URL"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise Retryable(f"response is not a chat completion: {response.text[:200]!r}") from None
        if not isinstance(content, str):
            raise Retryable("chat completion has no text content")
        try:
            return parse_answer(content, n)
        except Retryable as exc:
            log.warning("llm.malformed", error=str(exc))
            raise

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self._client.close()
