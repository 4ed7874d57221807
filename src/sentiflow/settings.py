"""The one settings object: every knob of sentiflow, read once from `SENTIFLOW_*` variables.

Embedded mode (SQLite, in-process queue and cache) is chosen when neither a database
nor a Redis URL is set; distributed mode needs both (`Settings.mode` says which, or why
neither). Components receive typed slices of it (`settings.live`, `settings.queue`, …)
rather than the whole object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiflow.errors import ConfigError

Mode = Literal["embedded", "distributed"]
# A rate limit as "N/s", "N/m" or "N/h": N requests per unit, in bursts of up to N.
RATE = r"^\d+(\.\d+)?/[smh]$"
# The shape of an API key (feedback/auth.py): `sf_<id>_<secret>`, the id being the lookup key.
BOOTSTRAP_KEY = re.compile(r"sf_[A-Za-z0-9-]{1,16}_[A-Za-z0-9_-]{32,}")


class Settings(BaseSettings):
    """All configuration. Field descriptions become the README's configuration table."""

    # Settings carry secrets (keys, URLs with passwords): an error names the variable and what
    # is wrong, never echoes the value.
    # A `.env` file in the working directory is read too; the environment wins over it.
    model_config = SettingsConfigDict(
        env_prefix="SENTIFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    data_dir: Path = Field(
        Path("./data"), description="Where embedded mode keeps its SQLite file, models and exports."
    )
    database_url: str | None = Field(
        None,
        description="URL of PostgreSQL, e.g. postgresql://user@host/db (postgres:// and "
        "postgresql+asyncpg:// work too; sslmode=require is understood). Unset: SQLite under the "
        "data dir.",
    )
    database_pooler: Literal["none", "transaction"] = Field(
        "none",
        description="transaction: the database URL points at a transaction-mode pooler "
        "(PgBouncer, the poolers of Neon, Supabase, RDS Proxy), so no statement is prepared "
        "for reuse and every session setting stays inside a transaction. ?pgbouncer=true or "
        "?pooler=transaction on the URL says the same.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL, e.g. redis://127.0.0.1:6379/0. Unset: in-process queue."
    )
    redis_prefix: str = Field("sentiflow", description="Prefix of every Redis key and stream.")
    redis_connect_timeout_s: float = Field(
        2.0, gt=0, description="Seconds to open a connection to Redis before giving up."
    )
    redis_timeout_s: float = Field(
        5.0,
        ge=1.0,
        description="Seconds one Redis command may take; past it the part that needed Redis "
        "answers 503 (ingest, stats) and workers back off and retry.",
    )
    health_timeout_s: float = Field(
        0.5,
        gt=0,
        description="Seconds /health waits for each part before reporting it down (keep it under "
        "the probe's own timeout).",
    )
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, description="Port the API listens on.")
    analyzer: str = Field(
        "auto",
        description="Analyzer backend: auto, builtin-fast, builtin-accurate, lexicon, "
        "transformers, llm. Default: auto in embedded mode, builtin-fast in distributed mode.",
    )
    language_id: bool = Field(
        True,
        description="Identify the language of each post sent without `lang` (fastText's lid.176, "
        "in the analyzer's process). Off: such posts are stored with an unknown language and "
        "every analyzer answers them as trained.",
    )
    auto_fast_above: int = Field(
        2_000,
        ge=0,
        description="auto analyzer: backlog (posts) above which batches go to builtin-fast.",
    )
    auto_accurate_below: int = Field(
        200,
        ge=0,
        description="auto analyzer: backlog (posts) at or under which batches go to the "
        "accurate tier again; below auto_fast_above, so the tier does not flip every batch.",
    )
    auto_accurate_batch: int = Field(
        64,
        ge=1,
        description="auto analyzer: most posts the accurate tier takes in one batch (and in one "
        "/api/analyze request or ranked feed; larger ones go to builtin-fast).",
    )
    fallback_analyzer: str | None = Field(
        None, description="Analyzer to fall back to on error or low confidence (e.g. llm)."
    )
    fallback_below: float = Field(
        0.0, description="Confidence under which the fallback analyzer is asked too."
    )
    batch_size: int = Field(
        4000,
        ge=1,
        le=10_000,
        description="Posts a worker takes per batch, at most: under load a batch fills up, and "
        "each costs a transaction, a few statements and rollup updates whatever its size.",
    )
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

    # Analyzer backends: transformers, llm, builtin-accurate.
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
    # Sources, search jobs and the scheduler.
    sources: list[str] = Field(
        default_factory=list,
        description="Sources `sentiflow run` and workers poll, as a JSON list of specs, e.g. "
        '\'["rss:https://example.com/feed.xml", "reddit:r/python"]\' (see docs/sources.md).',
    )
    source_interval_s: float = Field(
        60.0, gt=0, description="Default seconds between two polls of one source."
    )
    reddit_client_id: str | None = Field(
        None, description="Reddit app client id; required only when a reddit source is set."
    )
    reddit_client_secret: SecretStr | None = Field(
        None, description="Reddit app client secret; required only when a reddit source is set."
    )
    reddit_user_agent: str = Field(
        "sentiflow/0.1 (social listening)", description="User-Agent sent to Reddit."
    )
    reddit_url: str = Field(
        "https://www.reddit.com", description="Reddit's auth host (a test server in tests)."
    )
    reddit_oauth_url: str = Field(
        "https://oauth.reddit.com", description="Reddit's API host (a test server in tests)."
    )
    scheduler: bool = Field(True, description="Run the periodic jobs in worker processes.")
    scheduler_lease_s: float = Field(
        10.0,
        gt=0,
        description="Seconds the scheduler lease lasts unless renewed; a dead "
        "leader's jobs move to another worker after at most this long.",
    )
    scheduler_misfire_grace_s: float = Field(
        5.0, ge=0, description="A run missed by less than this still runs; older ones are skipped."
    )
    search_cache_s: float = Field(
        300.0, ge=0, description="Seconds an identical search returns the finished job's result."
    )
    search_timeout_s: float = Field(
        120.0, gt=0, description="Seconds a search job may run before it is marked failed."
    )

    # Ranking (POST /api/rank, POST /rank) and its background signals.
    rank_deadline_ms: int = Field(
        400, ge=1, le=60_000, description="Default scoring deadline of a ranking request (ms)."
    )
    rank_chunk: int = Field(
        500, ge=1, description="Items per scoring task; a feed's chunks are scored concurrently."
    )
    rank_processes: int | None = Field(
        None,
        ge=0,
        description="Processes that analyse a feed's unknown posts (0: a thread). "
        "Unset: as many as SENTIFLOW_ANALYZER_PROCESSES.",
    )
    rank_process_min: int = Field(
        16, ge=1, description="Unknown posts under which a feed is analysed in a thread instead."
    )
    rank_cache_s: float = Field(
        2.0,
        ge=0,
        description="Seconds an API process reuses a stored analysis it looked up for ranking; "
        "a correction or re-analysis shows in rankings within this time (0: look up each time).",
    )
    rank_cache_size: int = Field(
        50_000, ge=1, description="Stored analyses an API process keeps for ranking at most."
    )
    rank_default_strategy: str = Field(
        "calm", description="Strategy of POST /rank (the Prosocial Ranking Challenge endpoint)."
    )
    rank_sessions: bool = Field(
        True,
        description="Store each ranking session that names its user (POST /rank, POST /api/rank "
        "with `session`) and the feed it ranked, after the answer is sent (GET /api/sessions).",
    )
    signals_interval_s: float = Field(
        60.0,
        ge=0,
        description="Seconds between the scheduler's recomputations of trending signals (0: never).",
    )
    signals_windows_s: list[int] = Field(
        [3600], description="Windows (s) for trending terms, as JSON, e.g. [900, 3600]."
    )
    signals_baseline: int = Field(
        6, ge=1, description="Windows before the current one that define a term's usual rate."
    )
    signals_top: int = Field(50, ge=1, description="Trending terms kept per window.")
    signals_stale_s: float = Field(
        300.0, gt=0, description="Age past which signals are reported stale in a ranking."
    )

    # Live WebSocket feed (/ws/live) and dashboard.
    live_interval_s: float = Field(
        0.25, gt=0, description="Least time between two live messages to one WebSocket client."
    )
    live_queue: int = Field(
        64,
        ge=1,
        description="Summaries one live client may have waiting; past it the oldest is dropped.",
    )
    live_samples: int = Field(10, ge=0, le=100, description="Sample posts per live message.")
    live_heartbeat_s: float = Field(
        15.0, gt=0, description="Seconds of silence after which a live client gets a ping."
    )
    live_send_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A live client that takes longer to accept one message is disconnected.",
    )

    # Analytics: cache, keyword trends, spike alerts.
    cache_ttl_s: float = Field(
        60.0, gt=0, description="Seconds a cached analytics answer lives without invalidation."
    )
    cache_lock_ttl_s: float = Field(
        30.0, gt=0, description="Lease of the single-flight lock of one analytics computation."
    )
    trends_sync_max_s: int = Field(
        3600,
        ge=60,
        description="Keyword-trend windows up to this many seconds are answered at once; "
        "longer ones run as a background job (202 + /api/jobs/<id>).",
    )
    trends_top: int = Field(20, ge=1, le=200, description="Terms per list in keyword trends.")
    alert_window_s: int = Field(
        300, ge=60, description="Length of the window a spike alert looks at (whole minutes)."
    )
    alert_baseline_windows: int = Field(
        12, ge=2, description="Previous windows whose mean and standard deviation are the baseline."
    )
    alert_k: float = Field(
        3.0, gt=0, description="An alert fires above baseline mean + k standard deviations."
    )
    alert_min_posts: int = Field(
        20, ge=1, description="Posts a window needs before it can raise an alert."
    )
    alert_interval_s: float = Field(
        60.0, gt=0, description="Seconds between alert evaluations in a worker."
    )
    alert_webhook_url: str | None = Field(
        None, description="URL each new alert is POSTed to as JSON (retried); unset: none."
    )

    # Distributed mode: worker processes and metrics.
    worker_processes: int = Field(
        1, ge=1, description="Worker processes `sentiflow worker` starts (each its own consumer)."
    )
    worker_concurrency: int = Field(
        2, ge=1, description="Batches one worker process has in flight (analysis overlaps commit)."
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port on which `sentiflow worker` serves /metrics (its processes' counters), "
        "for hosts without an API process to scrape; unset: none.",
    )
    metrics_dir: Path | None = Field(
        None,
        description="Directory where every process writes its metrics (prometheus-client "
        "multiprocess mode); set it, empty at start, when running several API or worker processes.",
    )

    # Feedback: API keys, review queue, dataset snapshots.
    auth: Literal["auto", "required", "disabled"] = Field(
        "auto",
        description="API keys: required, disabled, or auto (required unless embedded mode "
        "listens on a loopback address only).",
    )
    bootstrap_admin_key: SecretStr | None = Field(
        None,
        description="An admin API key to accept from the start (stored hashed, idempotent), so a "
        "new deployment can be used at once: sf_<id>_<secret>, e.g. "
        "sf_admin_$(openssl rand -hex 24). Keep the id and change the secret to rotate it.",
    )
    # Data lifecycle: retention and authors stored hashed.
    retention_days: int | None = Field(
        None,
        ge=1,
        description="Delete raw posts (with analyses, labels, corrections) older than this "
        "many days, hourly, in small batches; rollups stay. Unset: keep everything.",
    )
    hash_authors: bool = Field(
        False,
        description="Store authors as a keyed hash (HMAC-SHA-256 with SENTIFLOW_AUTHOR_HASH_KEY) "
        "instead of their names; posts of one author still share one value.",
    )
    author_hash_key: SecretStr | None = Field(
        None,
        description="Secret key of the author hash; required when SENTIFLOW_HASH_AUTHORS is "
        "true (changing it splits each author in two).",
    )
    snapshot_threshold: int = Field(
        50, ge=1, description="Corrections since the last dataset snapshot that trigger a new one."
    )
    review_claim_s: float = Field(
        300.0, gt=0, description="Seconds a post handed out by the review queue stays claimed."
    )
    near_duplicates: bool = Field(
        True,
        description="Group posts whose normalised text nearly matches a recent post's "
        "(retweets, copies): the urgent list and the review queue show such a group once.",
    )
    near_duplicate_window_s: float = Field(
        86_400.0, gt=0, description="Seconds back a post's near-duplicates are looked for."
    )
    review_second_opinion: str = Field(
        "lexicon",
        description="Analyzer asked for a second opinion by the review queue's "
        "disagreement strategy.",
    )

    # Network safety: sessions, CORS, rate limits, request caps.
    session_ttl_s: float = Field(
        8 * 3600.0,
        gt=0,
        description="Seconds a dashboard sign-in lasts; revoking its key ends it at once.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, as a JSON list, e.g. "
        "'[\"https://app.example.com\"]'. Empty: same origin only.",
    )
    rate_limits: bool = Field(True, description="Apply the rate limits below.")
    rate_limit_read: str = Field(
        pattern=RATE,
        default="100/s",
        description="Requests per key (or client address) to read routes: N/s, N/m, N/h.",
    )
    rate_limit_ingest: str = Field(
        pattern=RATE,
        default="50/s",
        description="Requests per key (or client address) to ingest (a request: 1,000 posts).",
    )
    rate_limit_rank: str = Field(
        pattern=RATE,
        default="200/s",
        description="Requests per key (or client address) to /api/rank and /rank.",
    )
    rate_limit_review: str = Field(
        pattern=RATE,
        default="50/s",
        description="Requests per key (or client address) to corrections and review.",
    )
    rate_limit_admin: str = Field(
        pattern=RATE,
        default="20/s",
        description="Requests per key (or client address) to keys, sources, datasets.",
    )
    max_body_bytes: int = Field(
        16 * 2**20,
        ge=1024,
        description="Largest request body; a bigger one (chunked too) is refused with 413.",
    )
    max_url_bytes: int = Field(
        8 * 1024, ge=256, description="Longest request target (path and query); longer: 414."
    )
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest request headers, all together; larger: 431."
    )
    ws_max_message_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest message a WebSocket client may send."
    )
    ws_max_messages_per_s: float = Field(
        20.0, gt=0, description="Messages per second a WebSocket client may send; more: closed."
    )

    @field_validator("database_url", mode="after")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        return None if value in (None, "") else postgres_url(value)

    @model_validator(mode="after")
    def _analyzer_for_mode(self) -> Settings:
        # The accurate tier is worth its cost on a laptop's trickle; a distributed deployment
        # scales builtin-fast out instead, unless told otherwise.
        if "analyzer" not in self.model_fields_set and not self.embedded:
            self.analyzer = "builtin-fast"
        if self.auto_accurate_below >= self.auto_fast_above:
            raise ConfigError(
                f"SENTIFLOW_AUTO_ACCURATE_BELOW ({self.auto_accurate_below}) must be under "
                f"SENTIFLOW_AUTO_FAST_ABOVE ({self.auto_fast_above}); lower the first or raise "
                "the second"
            )
        return self

    @field_validator("bootstrap_admin_key", mode="before")
    @classmethod
    def _bootstrap_key_shape(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or raw == "":
            return None  # compose passes an unset variable on as an empty one
        if not isinstance(raw, str) or not BOOTSTRAP_KEY.fullmatch(raw):
            raise ValueError(
                "SENTIFLOW_BOOTSTRAP_ADMIN_KEY must look like sf_<id>_<secret>: an id of 1-16 "
                "letters, digits or '-', and a secret of at least 32 letters, digits, '-' or "
                "'_'; make one with: echo sf_admin_$(openssl rand -hex 24)"
            )
        return value

    @model_validator(mode="after")
    def _pooler_in_url(self) -> Settings:
        """`?pgbouncer=true` (as Prisma and Supabase write it) or `?pooler=transaction` on the
        URL means SENTIFLOW_DATABASE_POOLER=transaction; the driver must not see either."""
        if self.database_url is None:
            return self
        url, pooled = pooler_in_url(self.database_url)
        if pooled:
            self.database_url = url
            self.database_pooler = "transaction"
        return self

    @model_validator(mode="after")
    def _author_key_given(self) -> Settings:
        if self.hash_authors and not self.author_hash_key:
            raise ValueError(
                "SENTIFLOW_HASH_AUTHORS is true but SENTIFLOW_AUTHOR_HASH_KEY is not set; set it "
                "to a long random secret, e.g. $(openssl rand -hex 32), and keep it"
            )
        return self

    @property
    def author_hash(self) -> str | None:
        """The key of the author hash, when authors are stored hashed."""
        if not self.hash_authors or self.author_hash_key is None:
            return None
        return self.author_hash_key.get_secret_value()

    @property
    def embedded(self) -> bool:
        return self.database_url is None and self.redis_url is None

    def mode(self) -> Mode:
        """Embedded (neither URL) or distributed (both); `ConfigError` naming the missing
        variable when only one is set."""
        if self.embedded:
            return "embedded"
        if self.redis_url is None:
            raise ConfigError(
                "SENTIFLOW_DATABASE_URL is set but SENTIFLOW_REDIS_URL is not: distributed mode "
                "needs both; set SENTIFLOW_REDIS_URL (e.g. redis://127.0.0.1:6379/0), or unset "
                "SENTIFLOW_DATABASE_URL to run embedded"
            )
        if self.database_url is None:
            raise ConfigError(
                "SENTIFLOW_REDIS_URL is set but SENTIFLOW_DATABASE_URL is not: distributed mode "
                "needs both; set SENTIFLOW_DATABASE_URL (e.g. postgresql://user@host/db), "
                "or unset SENTIFLOW_REDIS_URL to run embedded"
            )
        return "distributed"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sentiflow.db').resolve()}"

    @property
    def redis(self) -> RedisSettings | None:
        """How to reach Redis; None in embedded mode."""
        if self.redis_url is None:
            return None
        return RedisSettings(
            url=self.redis_url,
            prefix=self.redis_prefix,
            connect_timeout_s=self.redis_connect_timeout_s,
            timeout_s=self.redis_timeout_s,
        )

    @property
    def queue(self) -> QueueSettings:
        return QueueSettings(
            max_backlog=self.queue_max,
            max_deliveries=self.max_deliveries,
            visibility_timeout_s=self.visibility_timeout_s,
        )

    @property
    def live(self) -> LiveSettings:
        return LiveSettings(
            interval_s=self.live_interval_s,
            queue=self.live_queue,
            samples=self.live_samples,
            heartbeat_s=self.live_heartbeat_s,
            send_timeout_s=self.live_send_timeout_s,
            max_message_bytes=self.ws_max_message_bytes,
            max_messages_per_s=self.ws_max_messages_per_s,
        )

    @property
    def cache(self) -> CacheSettings:
        return CacheSettings(
            ttl_s=self.cache_ttl_s,
            lock_ttl_s=self.cache_lock_ttl_s,
            trends_sync_max_s=self.trends_sync_max_s,
            trends_top=self.trends_top,
        )

    @property
    def alerts(self) -> AlertSettings:
        return AlertSettings(
            window_s=self.alert_window_s,
            baseline_windows=self.alert_baseline_windows,
            k=self.alert_k,
            min_posts=self.alert_min_posts,
            interval_s=self.alert_interval_s,
            webhook_url=self.alert_webhook_url,
        )

    @property
    def auto(self) -> AutoSettings:
        return AutoSettings(
            fast_above=self.auto_fast_above,
            accurate_below=self.auto_accurate_below,
            accurate_batch=self.auto_accurate_batch,
        )

    @property
    def signals(self) -> SignalSettings:
        return SignalSettings(
            interval_s=self.signals_interval_s,
            windows_s=tuple(self.signals_windows_s),
            baseline=self.signals_baseline,
            top=self.signals_top,
            stale_s=self.signals_stale_s,
        )


def postgres_url(url: str) -> str:
    """The SQLAlchemy URL for asyncpg of a PostgreSQL URL as services hand them out
    (postgresql://, postgres://, with libpq's sslmode); any other URL unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        return url
    # asyncpg names libpq's sslmode `ssl` and takes the same values.
    rest = re.sub(r"([?&])sslmode=", r"\1ssl=", rest)
    return f"postgresql+asyncpg://{rest}"


_POOLER_PARAM = re.compile(r"(?i)^(pgbouncer=(true|1)|pooler=transaction)$")


def pooler_in_url(url: str) -> tuple[str, bool]:
    """The URL without a pooler parameter, and whether it had one."""
    base, sep, query = url.partition("?")
    if not sep:
        return url, False
    params = query.split("&")
    kept = [p for p in params if not _POOLER_PARAM.match(p)]
    if len(kept) == len(params):
        return url, False
    return (f"{base}?{'&'.join(kept)}" if kept else base), True


# Typed slices of `Settings`, each for the component that reads it.


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str
    prefix: str
    connect_timeout_s: float
    timeout_s: float


@dataclass(frozen=True, slots=True)
class QueueSettings:
    max_backlog: int
    max_deliveries: int
    visibility_timeout_s: float


@dataclass(frozen=True, slots=True)
class LiveSettings:
    interval_s: float
    queue: int
    samples: int
    heartbeat_s: float
    send_timeout_s: float
    max_message_bytes: int
    max_messages_per_s: float


@dataclass(frozen=True, slots=True)
class CacheSettings:
    ttl_s: float
    lock_ttl_s: float
    trends_sync_max_s: int
    trends_top: int


@dataclass(frozen=True, slots=True)
class AlertSettings:
    window_s: int
    baseline_windows: int
    k: float
    min_posts: int
    interval_s: float
    webhook_url: str | None


@dataclass(frozen=True, slots=True)
class SignalSettings:
    interval_s: float
    windows_s: tuple[int, ...]
    baseline: int
    top: int
    stale_s: float


@dataclass(frozen=True, slots=True)
class AutoSettings:
    fast_above: int
    accurate_below: int
    accurate_batch: int
