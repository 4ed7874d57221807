"""Where posts, analyses and rollups live: SQLAlchemy over SQLite (embedded) or PostgreSQL."""

from sentiflow.store.db import Store

__all__ = ["Store"]
