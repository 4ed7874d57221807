"""The tables. Alembic migrations (store/migrations) create them; servers never `create_all`."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
)

metadata = MetaData()

posts = Table(
    "posts",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("author", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("url", String(2000)),
    Column("topic", String(100)),
    Column("meta", JSON, nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("handled_at", DateTime(timezone=True)),
    UniqueConstraint("source", "external_id", name="uq_posts_dedup"),
    Index("ix_posts_created", "created_at", "id"),
)

analyses = Table(
    "analyses",
    metadata,
    Column("post_id", String(24), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("sentiment", String(8), nullable=False),
    Column("sentiment_confidence", Float, nullable=False),
    Column("sentiment_probs", JSON, nullable=False),
    Column("polarity", Float, nullable=False),
    Column("emotion", String(8), nullable=False),
    Column("emotion_confidence", Float, nullable=False),
    Column("emotion_probs", JSON, nullable=False),
    Column("model_version", String(80), nullable=False),
    Column("analyzed_at", DateTime(timezone=True), nullable=False),
    Index("ix_analyses_sentiment", "sentiment"),
    Index("ix_analyses_emotion", "emotion"),
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
)
