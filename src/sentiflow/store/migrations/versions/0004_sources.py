"""sources with resumable cursors, search jobs, scheduled-job runs

Revision ID: 0004_sources
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sources"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("enabled", sa.Integer, nullable=False, server_default="1"),
        sa.Column("cursor", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_run_at", TZ),
        sa.Column("last_fetched", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total_fetched", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "search_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("max_results", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("heartbeat_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
    )
    op.create_index("ix_search_jobs_key", "search_jobs", ["key", "created_at"])
    op.create_index("ix_search_jobs_status", "search_jobs", ["status"])
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(150), primary_key=True),
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("fence", sa.Integer, nullable=False),
        sa.Column("runner", sa.String(100), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_table("search_jobs")
    op.drop_table("sources")
