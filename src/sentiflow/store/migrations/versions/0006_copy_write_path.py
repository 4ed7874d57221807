"""write path for COPY (PostgreSQL): no foreign-key checks on analyses and urgent_posts, and
posts deduplicated by their id alone

The worker writes a post, its analysis and its urgent row in one transaction, and nothing in
sentiflow deletes posts, so the foreign-key check could never fail; yet PostgreSQL ran it as a
trigger per row, a lookup and a row lock on posts, the largest single cost of the database's
share of the pipeline. A post's id is a
96-bit hash of its dedup key (source, external id), so the primary key already keeps one row
per key, and the second unique index cost each insert another index entry. Labels, corrections and review claims, written by people,
keep their foreign keys. SQLite keeps all of its constraints: there a check is one b-tree
probe, and dropping one means copying the table.

Revision ID: 0006_copy_write_path
Revises: 0002_analytics
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0006_copy_write_path"
down_revision = "0002_analytics"
branch_labels = None
depends_on = None

CHILDREN = ("analyses", "urgent_posts")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CHILDREN:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_post_id_fkey")
    op.execute("ALTER TABLE posts DROP CONSTRAINT IF EXISTS uq_posts_dedup")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE posts ADD CONSTRAINT uq_posts_dedup UNIQUE (source, external_id)")
    for table in CHILDREN:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_post_id_fkey "
            "FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE"
        )
