"""rank_sessions and rank_session_items: each ranking session (user, platform, cohort, time)
and the feed it ranked, in order, for GET /api/sessions and the seen-items option

Revision ID: 0013_rank_sessions
Revises: 0012_import_labels
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_rank_sessions"
down_revision = "0012_import_labels"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
# As posts.id (migration 0007): compared byte by byte on PostgreSQL.
POST_ID = sa.String(24).with_variant(sa.String(24, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "rank_sessions",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("user_id", sa.String(200)),
        sa.Column("platform", sa.String(40)),
        sa.Column("cohort", sa.String(100)),
        sa.Column("strategy", sa.String(60), nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("partial", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_rank_sessions_created", "rank_sessions", ["created_at"])
    op.create_index("ix_rank_sessions_user", "rank_sessions", ["user_id", "created_at"])
    op.create_table(
        "rank_session_items",
        sa.Column(
            "session_id",
            sa.String(100),
            sa.ForeignKey("rank_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(100)),
        sa.Column("post_id", POST_ID),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sentiment", sa.String(8)),
        sa.Column("emotion", sa.String(8)),
        sa.Column("score", sa.Float),
    )
    op.create_index("ix_rank_session_items_post", "rank_session_items", ["post_id"])


def downgrade() -> None:
    op.drop_index("ix_rank_session_items_post", table_name="rank_session_items")
    op.drop_table("rank_session_items")
    op.drop_index("ix_rank_sessions_user", table_name="rank_sessions")
    op.drop_index("ix_rank_sessions_created", table_name="rank_sessions")
    op.drop_table("rank_sessions")
