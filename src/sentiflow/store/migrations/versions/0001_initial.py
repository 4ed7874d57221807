"""posts, analyses and minute rollups

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author", sa.String(200)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("url", sa.String(2000)),
        sa.Column("topic", sa.String(100)),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("ingested_at", TZ, nullable=False),
        sa.Column("handled_at", TZ),
        sa.UniqueConstraint("source", "external_id", name="uq_posts_dedup"),
    )
    op.create_index("ix_posts_created", "posts", ["created_at", "id"])
    op.create_table(
        "analyses",
        sa.Column(
            "post_id",
            sa.String(24),
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sentiment", sa.String(8), nullable=False),
        sa.Column("sentiment_confidence", sa.Float, nullable=False),
        sa.Column("sentiment_probs", sa.JSON, nullable=False),
        sa.Column("polarity", sa.Float, nullable=False),
        sa.Column("emotion", sa.String(8), nullable=False),
        sa.Column("emotion_confidence", sa.Float, nullable=False),
        sa.Column("emotion_probs", sa.JSON, nullable=False),
        sa.Column("model_version", sa.String(80), nullable=False),
        sa.Column("analyzed_at", TZ, nullable=False),
    )
    op.create_index("ix_analyses_sentiment", "analyses", ["sentiment"])
    op.create_index("ix_analyses_emotion", "analyses", ["emotion"])
    op.create_table(
        "rollups",
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("sentiment", sa.String(8), primary_key=True),
        sa.Column("emotion", sa.String(8), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("polarity_sum", sa.Float, nullable=False),
        sa.Column("confidence_sum", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollups")
    op.drop_table("analyses")
    op.drop_table("posts")
