"""posts: duplicate_of, the earlier post a near-duplicate copies, indexed for copies only

Revision ID: 0011_near_duplicates
Revises: 0010_key_limits_sessions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_near_duplicates"
down_revision = "0010_key_limits_sessions"
branch_labels = None
depends_on = None

COPIES = sa.text("duplicate_of IS NOT NULL")
# As posts.id (migration 0007): compared byte by byte on PostgreSQL.
POST_ID = sa.String(24).with_variant(sa.String(24, collation="C"), "postgresql")


def upgrade() -> None:
    # A nullable column without a default: no table rewrite on PostgreSQL, whatever its size.
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("duplicate_of", POST_ID))
    op.create_index(
        "ix_posts_duplicate_of",
        "posts",
        ["duplicate_of"],
        postgresql_where=COPIES,
        sqlite_where=COPIES,
    )


def downgrade() -> None:
    op.drop_index("ix_posts_duplicate_of", table_name="posts")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("duplicate_of")
