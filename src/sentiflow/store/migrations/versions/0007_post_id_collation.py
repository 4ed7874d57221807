"""post ids compared byte by byte (PostgreSQL): collation "C" on posts.id and every post_id

A post id is 24 hex digits (a hash of its dedup key), so the database's locale has nothing to
order in it, yet under a locale collation (anything but "C", C.UTF-8 included) each comparison
in a b-tree goes through strcoll: every post the worker writes makes about 20 of them in each
of the primary keys of posts and analyses, and inserts are cheaper with "C". Hex digits sort
the same in every collation, so orderings and cursors do not change. All post_id columns change with
posts.id: a join between two collations could not use their indexes.

On a large database this rebuilds the indexes of these tables (the rows stay as they are).

Revision ID: 0007_post_id_collation
Revises: 0003_feedback, 0006_copy_write_path
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007_post_id_collation"
down_revision = ("0003_feedback", "0006_copy_write_path")
branch_labels = None
depends_on = None

COLUMNS = (
    ("posts", "id"),
    ("analyses", "post_id"),
    ("urgent_posts", "post_id"),
    ("corrections", "post_id"),
    ("labels", "post_id"),
    ("review_claims", "post_id"),
)


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(
            f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(24) COLLATE "{collation}"'
        )


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
