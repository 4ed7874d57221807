"""feedback: api keys, corrections, effective labels, review claims, dataset snapshots

Revision ID: 0003_feedback
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_feedback"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _post_fk() -> sa.ForeignKey:
    return sa.ForeignKey("posts.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("post_id", sa.String(24), _post_fk(), nullable=False),
        sa.Column("old_sentiment", sa.String(8), nullable=False),
        sa.Column("old_emotion", sa.String(8), nullable=False),
        sa.Column("sentiment", sa.String(8), nullable=False),
        sa.Column("emotion", sa.String(8), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("who", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(80), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_corrections_post", "corrections", ["post_id", "id"])
    op.create_table(
        "labels",
        sa.Column("post_id", sa.String(24), _post_fk(), primary_key=True),
        sa.Column("sentiment", sa.String(8), nullable=False),
        sa.Column("emotion", sa.String(8), nullable=False),
        sa.Column("corrected_by", sa.String(100), nullable=False),
        sa.Column("corrected_at", TZ, nullable=False),
        sa.Column("correction_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "review_claims",
        sa.Column("post_id", sa.String(24), _post_fk(), primary_key=True),
        sa.Column("claim_id", sa.String(32), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("trigger", sa.String(12), nullable=False),
        sa.Column("scope", sa.String(12), nullable=False),
        sa.Column("after_correction", sa.Integer, unique=True),
        sa.Column("corrections_upto", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("rows_total", sa.Integer),
        sa.Column("manifest", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
    )


def downgrade() -> None:
    op.drop_table("datasets")
    op.drop_table("review_claims")
    op.drop_table("labels")
    op.drop_index("ix_corrections_post", table_name="corrections")
    op.drop_table("corrections")
    op.drop_table("api_keys")
