"""Join the three branches (0004 sources, 0005 write path, 0008) into one head

Every migration from here on revises the single head before it, so `alembic heads` names
one revision and the history reads as a line.

Revision ID: 0009_one_head
Revises: 0004_sources, 0005_write_path, 0008_ingested_default
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0009_one_head"
down_revision = ("0004_sources", "0005_write_path", "0008_ingested_default")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
