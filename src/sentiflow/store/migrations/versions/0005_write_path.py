"""write path: drop the indexes on analyses.sentiment and analyses.emotion

Three and seven distinct values: no query reads through them (analytics read the rollups, post
lists filter the effective label, which these cannot serve), yet every stored post paid for
both in the worker's write.

Revision ID: 0005_write_path
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005_write_path"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_analyses_sentiment", table_name="analyses")
    op.drop_index("ix_analyses_emotion", table_name="analyses")


def downgrade() -> None:
    op.create_index("ix_analyses_sentiment", "analyses", ["sentiment"])
    op.create_index("ix_analyses_emotion", "analyses", ["emotion"])
