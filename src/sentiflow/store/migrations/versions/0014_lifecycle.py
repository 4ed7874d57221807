"""lifecycle: datasets.erased_at, and the foreign keys of analyses and urgent_posts back on
PostgreSQL (ON DELETE CASCADE)

Migration 0006 dropped those two foreign keys because nothing deleted posts then. Erasure and
retention do now, and a hand-written DELETE of posts must not leave analyses or urgent rows
behind. Orphans left by such a DELETE in the meantime are removed first; the constraints are
added NOT VALID and then validated, which scans the tables without blocking writes.

Revision ID: 0014_lifecycle
Revises: 0011_near_duplicates
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_lifecycle"
down_revision = "0011_near_duplicates"
branch_labels = None
depends_on = None

CHILDREN = ("analyses", "urgent_posts")


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite kept its foreign keys
    for table in CHILDREN:
        op.execute(
            f"DELETE FROM {table} c WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = c.post_id)"
        )
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_post_id_fkey "
            "FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE NOT VALID"
        )
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {table}_post_id_fkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CHILDREN:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_post_id_fkey")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("erased_at")
