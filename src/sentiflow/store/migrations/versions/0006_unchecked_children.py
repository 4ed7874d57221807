"""write path: no foreign-key checks on analyses and urgent_posts (PostgreSQL)

The worker writes a post, its analysis and its urgent row in one statement and transaction,
and nothing in sentiflow deletes posts, so the check could never fail; yet PostgreSQL ran it as
a trigger per row, a lookup and a row lock on posts: 10.7 ms of a 46 ms batch of 1,000
(EXPLAIN ANALYZE), the largest single cost of the database's share of the pipeline. SQLite
keeps its constraints: there the check is one b-tree probe, and dropping it means copying the
tables. Labels, corrections and review claims, written by people, keep theirs everywhere.

Revision ID: 0006_unchecked_children
Revises: 0002_analytics
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0006_unchecked_children"
down_revision = "0002_analytics"
branch_labels = None
depends_on = None

TABLES = ("analyses", "urgent_posts")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_post_id_fkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_post_id_fkey "
            "FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE"
        )
