"""The tables. Alembic migrations (store/migrations) create them; servers never `create_all`."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# A post id: 24 hex digits, a hash of the post's dedup key. PostgreSQL compares it byte by byte
# (collation "C", migration 0007), not through the locale: cheaper in every index it keys.
PostId = String(24).with_variant(String(24, collation="C"), "postgresql")

posts = Table(
    "posts",
    metadata,
    Column("id", PostId, primary_key=True),
    Column("source", String(100), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("author", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("url", String(2000)),
    Column("topic", String(100)),
    Column("meta", JSON, nullable=False),
    # Defaults to now() on PostgreSQL (migration 0008), which the worker's COPY relies on.
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("handled_at", DateTime(timezone=True)),
    # The earlier post whose text this one nearly copies (duplicates/); NULL for the first of
    # its group. A post's group is coalesce(duplicate_of, id); the index holds copies only.
    Column("duplicate_of", PostId),
    # ISO 639-1, as sent or identified by the worker; NULL when unknown (and for posts stored
    # before migration 0015). Not indexed: a filter by language reads the time range's posts.
    Column("lang", String(8)),
    # SQLite only since migration 0006: on PostgreSQL the primary key, a hash of this pair,
    # keeps one row per pair.
    UniqueConstraint("source", "external_id", name="uq_posts_dedup"),
    Index("ix_posts_created", "created_at", "id"),
    Index(
        "ix_posts_duplicate_of",
        "duplicate_of",
        postgresql_where=text("duplicate_of IS NOT NULL"),
        sqlite_where=text("duplicate_of IS NOT NULL"),
    ),
)

analyses = Table(
    "analyses",
    metadata,
    # Enforced on SQLite only since migration 0006 (its check cost the COPY more than anything
    # else); on PostgreSQL a DELETE of posts takes these rows too (a trigger, migration 0014).
    Column("post_id", PostId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("sentiment", String(8), nullable=False),
    Column("sentiment_confidence", Float, nullable=False),
    Column("sentiment_probs", JSON, nullable=False),
    Column("polarity", Float, nullable=False),
    Column("emotion", String(8), nullable=False),
    Column("emotion_confidence", Float, nullable=False),
    Column("emotion_probs", JSON, nullable=False),
    Column("model_version", String(80), nullable=False),
    Column("analyzed_at", DateTime(timezone=True), nullable=False),
)

# One row per (minute, source, topic, sentiment, emotion): analytics read these, not posts.
# `topic` is '' for posts without one, so the key has no NULLs.
rollups = Table(
    "rollups",
    metadata,
    Column("bucket", Integer, primary_key=True, comment="minutes since the Unix epoch"),
    Column("source", String(100), primary_key=True),
    Column("topic", String(100), primary_key=True),
    Column("sentiment", String(8), primary_key=True),
    Column("emotion", String(8), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("polarity_sum", Float, nullable=False),
    Column("confidence_sum", Float, nullable=False),
    # SQLite keeps the rows in key order (migration 0002), so a bucket range is one read.
    sqlite_with_rowid=False,
)

# Sources, their resumable cursors, search jobs and scheduled-job history.
sources = Table(
    "sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("config", JSON, nullable=False),
    Column("interval_s", Float, nullable=False),
    Column("enabled", Integer, nullable=False, server_default="1"),
    Column("cursor", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_run_at", DateTime(timezone=True)),
    Column("last_fetched", Integer, nullable=False, server_default="0"),
    Column("total_fetched", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
)

search_jobs = Table(
    "search_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key", String(64), nullable=False, comment="hash of the normalised query"),
    Column("query", String(500), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("max_results", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("progress", Float, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Column("claimed_by", String(100)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_search_jobs_key", "key", "created_at"),
    Index("ix_search_jobs_status", "status"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("name", String(150), primary_key=True),
    Column("slot", BigInteger, primary_key=True, comment="floor(start time / interval)"),
    Column("interval_s", Float, nullable=False),
    Column("fence", Integer, nullable=False, comment="lease token of the runner"),
    Column("runner", String(100), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(12), nullable=False),
    Column("error", Text),
)


def _rollup_table(name: str, unit: str) -> Table:
    return Table(
        name,
        metadata,
        Column("bucket", Integer, primary_key=True, comment=f"{unit} since the Unix epoch"),
        Column("source", String(100), primary_key=True),
        Column("topic", String(100), primary_key=True),
        Column("sentiment", String(8), primary_key=True),
        Column("emotion", String(8), primary_key=True),
        Column("count", Integer, nullable=False),
        Column("polarity_sum", Float, nullable=False),
        Column("confidence_sum", Float, nullable=False),
        sqlite_with_rowid=False,
    )


# Coarser copies of `rollups`, written in the same transaction: a 30-day question then reads
# ~30 day rows per key instead of ~43,000 minute rows (docs/analytics.md has the measurements).
rollups_hour = _rollup_table("rollups_hour", "hours")
rollups_day = _rollup_table("rollups_day", "days")

# Negative posts not yet handled, with their urgency ranking key, so the urgent list is an
# index scan instead of a sort over every negative post (store/urgency.py).
urgent_posts = Table(
    "urgent_posts",
    metadata,
    # As for analyses: no foreign key on PostgreSQL, the trigger of migration 0014 instead.
    Column("post_id", PostId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("base", Float, nullable=False, comment="urgency before the recency decay"),
    Column(
        "rank_key", Float, nullable=False, comment="ln(base) + created hours * ln 2 / half-life"
    ),
    Index("ix_urgent_rank", "rank_key"),
)

# Spike alerts; the unique key makes every alert stored (and announced) once.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("source", String(100), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("value", Float, nullable=False),
    Column("baseline_mean", Float, nullable=False),
    Column("baseline_std", Float, nullable=False),
    Column("k", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "source", "topic", "window_start", name="uq_alerts_once"),
    Index("ix_alerts_created", "created_at"),
)

# Feedback (migration 0003_feedback): API keys, corrections, the effective labels
# they produce, review-queue claims and dataset snapshots.

# A key is `sf_<id>_<secret>`; only the SHA-256 of the whole key is stored.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("rate_limit", String(32)),  # N/s, N/m or N/h; NULL: each scope's default
)

# Dashboard sign-ins: the hash of the session cookie and the key it stands for, so revoking
# the key ends its sessions and signing out deletes the row.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", String(16), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_sessions_expires", "expires_at"),
)

# Every correction ever made, oldest first; the newest one per post is its effective label.
corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("post_id", PostId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("old_sentiment", String(8), nullable=False),
    Column("old_emotion", String(8), nullable=False),
    Column("sentiment", String(8), nullable=False),
    Column("emotion", String(8), nullable=False),
    Column("note", Text),
    Column("who", String(100), nullable=False),
    Column("model_version", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_corrections_post", "post_id", "id"),
)

# The effective label of each corrected post (the latest correction), so reads join one row.
labels = Table(
    "labels",
    metadata,
    Column("post_id", PostId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("sentiment", String(8), nullable=False),
    Column("emotion", String(8), nullable=False),
    Column("corrected_by", String(100), nullable=False),
    Column("corrected_at", DateTime(timezone=True), nullable=False),
    Column("correction_id", Integer, nullable=False),
)

# The label a file brought with each post (`sentiflow import --label-column`), from source
# `import:<file>`: apart from `labels`, which hold reviewers' corrections. No foreign key: an
# import writes these while workers are still storing the posts (ids come from dedup keys).
import_labels = Table(
    "import_labels",
    metadata,
    Column("post_id", PostId, primary_key=True),
    Column("source", String(300), nullable=False),
    Column("sentiment", String(8), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Index("ix_import_labels_source", "source"),
)

# A post handed to a reviewer stays theirs until `expires_at`; claiming is one atomic upsert.
review_claims = Table(
    "review_claims",
    metadata,
    Column("post_id", PostId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("claim_id", String(32), nullable=False),
    Column("reviewer", String(100), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# `after_correction` is set on snapshots the threshold triggered: the last correction id of
# the previous snapshot. It is unique, so two processes that see the threshold at once make
# one snapshot, not two.
datasets = Table(
    "datasets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(12), nullable=False),
    Column("trigger", String(12), nullable=False),
    Column("scope", String(12), nullable=False),
    Column("after_correction", Integer, unique=True),
    Column("corrections_upto", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("rows_total", Integer),
    Column("manifest", JSON),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # Set when posts this snapshot's files hold were erased since (migration 0014): delete or
    # rebuild it before training on it again.
    Column("erased_at", DateTime(timezone=True)),
)

# Ranking sessions (migration 0013_rank_sessions): one row per ranked feed, with the user it
# was ranked for (through `ranking.sessions.user_key`), and the feed's items in the order
# the client sent them, with the labels the ranker used. The id is the client's session id
# (a page view): ranking the same one again replaces its feed.
rank_sessions = Table(
    "rank_sessions",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("user_id", String(200)),
    Column("platform", String(40)),
    Column("cohort", String(100)),
    Column("strategy", String(60), nullable=False),
    Column("items", Integer, nullable=False),
    Column("partial", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_rank_sessions_created", "created_at"),
    Index("ix_rank_sessions_user", "user_id", "created_at"),
)

rank_session_items = Table(
    "rank_session_items",
    metadata,
    Column(
        "session_id",
        String(100),
        ForeignKey("rank_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("item_id", String(200), nullable=False),
    Column("source", String(100)),
    Column("post_id", PostId, comment="the stored post the item names, if any"),
    Column("text", Text, nullable=False),
    Column("sentiment", String(8)),
    Column("emotion", String(8)),
    Column("score", Float),
    # Erasure takes an erased post out of every feed that showed it.
    Index("ix_rank_session_items_post", "post_id"),
)
