"""lifecycle: datasets.erased_at, and on PostgreSQL a DELETE of posts that takes their analyses
and urgent rows with it

Migration 0006 dropped the foreign keys of analyses and urgent_posts because their check, a
trigger per inserted row, was the largest cost of the database's share of the worker's COPY;
putting them back measured the same again (docs/performance.md, "Retention"). Erasure and
retention delete those rows by name, but a hand-written `DELETE FROM posts` must not leave them
behind either: a statement-level trigger does the cascade, once per DELETE statement over the
rows it removed (a transition table), and costs nothing on insert. Orphans left by such a
DELETE in the meantime are removed first.

Revision ID: 0014_lifecycle
Revises: 0013_rank_sessions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_lifecycle"
down_revision = "0013_rank_sessions"
branch_labels = None
depends_on = None

CHILDREN = ("analyses", "urgent_posts")

CASCADE = """
CREATE FUNCTION sentiflow_posts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analyses a USING gone g WHERE a.post_id = g.id;
    DELETE FROM urgent_posts u USING gone g WHERE u.post_id = g.id;
    RETURN NULL;
END
$$
"""
TRIGGER = (
    "CREATE TRIGGER posts_deleted_cascade AFTER DELETE ON posts REFERENCING OLD TABLE AS gone "
    "FOR EACH STATEMENT EXECUTE FUNCTION sentiflow_posts_deleted()"
)


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite kept its foreign keys, which cascade
    for table in CHILDREN:
        op.execute(
            f"DELETE FROM {table} c WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = c.post_id)"
        )
    op.execute(CASCADE)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS posts_deleted_cascade ON posts")
        op.execute("DROP FUNCTION IF EXISTS sentiflow_posts_deleted()")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("erased_at")
