"""hour and day rollups, urgent posts, alerts

Revision ID: 0002_analytics
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_analytics"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
COLUMNS = "bucket, source, topic, sentiment, emotion, count, polarity_sum, confidence_sum"


def _rollup_table(name: str) -> None:
    # WITHOUT ROWID on SQLite: rows stored in primary-key order, so reading a bucket range is
    # a sequential read instead of one index probe plus one table lookup per row.
    op.create_table(
        name,
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("sentiment", sa.String(8), primary_key=True),
        sa.Column("emotion", sa.String(8), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("polarity_sum", sa.Float, nullable=False),
        sa.Column("confidence_sum", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rollup_table("rollups_by_key")
        op.execute(f"INSERT INTO rollups_by_key ({COLUMNS}) SELECT {COLUMNS} FROM rollups")
        op.drop_table("rollups")
        op.rename_table("rollups_by_key", "rollups")
    _rollup_table("rollups_hour")
    _rollup_table("rollups_day")
    # Existing minute rollups fold into the coarser tables once; the worker keeps them in step.
    for name, minutes in (("rollups_hour", 60), ("rollups_day", 1440)):
        op.execute(
            f"INSERT INTO {name} ({COLUMNS}) "
            f"SELECT bucket / {minutes}, source, topic, sentiment, emotion, "
            "SUM(count), SUM(polarity_sum), SUM(confidence_sum) FROM rollups "
            f"GROUP BY bucket / {minutes}, source, topic, sentiment, emotion"
        )
    op.create_table(
        "urgent_posts",
        sa.Column(
            "post_id",
            sa.String(24),
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("base", sa.Float, nullable=False),
        sa.Column("rank_key", sa.Float, nullable=False),
    )
    op.create_index("ix_urgent_rank", "urgent_posts", ["rank_key"])
    _backfill_urgent()
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("window_end", TZ, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("baseline_mean", sa.Float, nullable=False),
        sa.Column("baseline_std", sa.Float, nullable=False),
        sa.Column("k", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("kind", "source", "topic", "window_start", name="uq_alerts_once"),
    )
    op.create_index("ix_alerts_created", "alerts", ["created_at"])


def _backfill_urgent() -> None:
    """Negative, unhandled posts stored before this migration get their ranking row."""
    from sentiflow.store.urgency import urgent_row

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT p.id, p.source, p.topic, p.created_at, p.meta, a.sentiment_confidence, "
            "a.emotion FROM posts p JOIN analyses a ON a.post_id = p.id "
            "WHERE a.sentiment = 'negative' AND p.handled_at IS NULL"
        )
    ).all()
    if rows:
        table = sa.table(
            "urgent_posts",
            sa.column("post_id"),
            sa.column("source"),
            sa.column("topic"),
            sa.column("created_at"),
            sa.column("base"),
            sa.column("rank_key"),
        )
        bind.execute(
            table.insert(),
            [urgent_row(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows],
        )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("urgent_posts")
    op.drop_table("rollups_day")
    op.drop_table("rollups_hour")
