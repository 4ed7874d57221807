"""import_labels: the labels a file brought with it (`sentiflow import --label-column`), kept
apart from reviewers' corrections

Revision ID: 0012_import_labels
Revises: 0011_near_duplicates
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_import_labels"
down_revision = "0011_near_duplicates"
branch_labels = None
depends_on = None

# As posts.id (migration 0007): compared byte by byte on PostgreSQL.
POST_ID = sa.String(24).with_variant(sa.String(24, collation="C"), "postgresql")


def upgrade() -> None:
    # No foreign key to posts: an import writes its labels while the workers are still
    # storing the posts (the id is the hash of the dedup key, known before the post is).
    op.create_table(
        "import_labels",
        sa.Column("post_id", POST_ID, primary_key=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("sentiment", sa.String(8), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_import_labels_source", "import_labels", ["source"])


def downgrade() -> None:
    op.drop_index("ix_import_labels_source", table_name="import_labels")
    op.drop_table("import_labels")
