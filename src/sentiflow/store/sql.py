"""SQL helpers every store module shares: the dialect's INSERT (with ON CONFLICT), and times
read back from SQLite made aware again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sentiflow.store.db import Store


def insert_for(store: Store, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (pg_insert if store.dialect == "postgresql" else sqlite_insert)(table)


def utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; every stored one is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
