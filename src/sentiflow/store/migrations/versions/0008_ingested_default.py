"""posts.ingested_at defaults to now() (PostgreSQL)

The worker's COPY leaves the column out and the database fills in the time its transaction
began, the moment the batch is written, which is what the worker sent before: one time value
less to encode per post, a visible share of the worker's CPU (asyncpg converts a datetime in
Python-level steps).

Revision ID: 0008_ingested_default
Revises: 0007_post_id_collation
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0008_ingested_default"
down_revision = "0007_post_id_collation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE posts ALTER COLUMN ingested_at SET DEFAULT now()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE posts ALTER COLUMN ingested_at DROP DEFAULT")
