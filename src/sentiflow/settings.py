"""The one settings object: every knob of sentiflow, read once from `SENTIFLOW_*` variables.

Embedded mode (SQLite, in-process queue and cache) is chosen when neither a database
nor a Redis URL is set; distributed mode needs both.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration. Field descriptions become the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="SENTIFLOW_", env_file=None, extra="ignore")

    data_dir: Path = Field(
        Path("./data"), description="Where embedded mode keeps its SQLite file, models and exports."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of PostgreSQL, e.g. postgresql+asyncpg://user@host/db. "
        "Unset: SQLite under the data dir.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL, e.g. redis://127.0.0.1:6379/0. Unset: in-process queue."
    )
    redis_prefix: str = Field("sentiflow", description="Prefix of every Redis key and stream.")
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, description="Port the API listens on.")
    analyzer: str = Field(
        "builtin-fast",
        description="Analyzer backend: builtin-fast, builtin-accurate, lexicon, transformers, llm.",
    )
    fallback_analyzer: str | None = Field(
        None, description="Analyzer to fall back to on error or low confidence (e.g. llm)."
    )
    fallback_below: float = Field(
        0.0, description="Confidence under which the fallback analyzer is asked too."
    )
    batch_size: int = Field(500, ge=1, le=10_000, description="Posts a worker takes per batch.")
    queue_max: int = Field(
        100_000, ge=1, description="Backlog bound: past it, ingest answers 429 with Retry-After."
    )
    analyzer_processes: int = Field(
        1, ge=0, description="Processes that run the model in embedded mode (0: a thread)."
    )
    max_deliveries: int = Field(
        5, ge=1, description="Deliveries of one post before it goes to the dead-letter stream."
    )
    visibility_timeout_s: float = Field(
        30.0, gt=0, description="Seconds before a crashed worker's unacked posts are reclaimed."
    )
    demo_rate: float = Field(
        20.0, ge=0, description="Posts per second the demo replay feeds in `sentiflow run`."
    )
    reads_need_key: bool = Field(False, description="Require an API key with scope read on GETs.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: Literal["console", "json"] = Field("console", description="Log format.")
    llm_base_url: str = Field(
        "https://api.openai.com/v1", description="OpenAI-compatible base URL of the llm analyzer."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key of the llm analyzer; required only when it is selected."
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the LLM API.")

    # Analyzer backends: transformers, llm, builtin-accurate (issue 5).
    hf_sentiment_model: str = Field(
        "cardiffnlp/twitter-roberta-base-sentiment-latest",
        description="transformers analyzer: sentiment model, a hub name already in the local "
        "cache or a local directory (nothing is downloaded at run time).",
    )
    hf_emotion_model: str | None = Field(
        "j-hartmann/emotion-english-distilroberta-base",
        description="transformers analyzer: emotion model (hub name in the cache or local "
        "directory). Empty: emotion comes from the lexicon analyzer.",
    )
    hf_label_map: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object mapping model label names to canonical ones, e.g. "
        '{"trust": "joy"}, for labels sentiflow cannot map by itself.',
    )
    hf_batch_size: int = Field(32, ge=1, description="transformers analyzer: texts per forward.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Device of the transformers analyzer: auto (CUDA when present), cpu, cuda.",
    )
    accurate_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="builtin-accurate: run MiniLM in ONNX Runtime (exported once into the data "
        "dir) or torch.",
    )
    llm_timeout_s: float = Field(30.0, gt=0, description="llm analyzer: timeout of one request.")
    llm_max_retries: int = Field(
        5, ge=0, description="llm analyzer: retries of a request on 429, 5xx or a malformed answer."
    )
    llm_concurrency: int = Field(4, ge=1, description="llm analyzer: requests in flight at once.")
    llm_batch_size: int = Field(
        20, ge=1, le=200, description="llm analyzer: texts labelled in one prompt."
    )
    llm_max_chars: int = Field(
        2_000, ge=50, description="llm analyzer: characters of a text sent (longer are cut)."
    )

    @property
    def embedded(self) -> bool:
        return self.database_url is None and self.redis_url is None

    @cached_property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sentiflow.db').resolve()}"
