"""posts: lang, each post's language (ISO 639-1), as sent or identified by the worker

Revision ID: 0015_post_lang
Revises: 0014_lifecycle
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_post_lang"
down_revision = "0014_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without a default: no table rewrite on PostgreSQL. Posts stored before it keep
    # NULL (unknown); no index, so the worker's COPY pays nothing more for it.
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("lang", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("lang")
