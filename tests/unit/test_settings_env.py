"""The database URL as managed services hand it out, and the `.env` file beside the
environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiflow.settings import Settings
from sentiflow.store.db import make_engine


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgresql://u:p@db.example.com:5432/app",
            "postgresql+asyncpg://u:p@db.example.com:5432/app",
        ),
        ("postgres://u@h/app", "postgresql+asyncpg://u@h/app"),
        ("postgresql://u@h/app?sslmode=require", "postgresql+asyncpg://u@h/app?ssl=require"),
        ("postgresql+asyncpg://u@h/app", "postgresql+asyncpg://u@h/app"),
    ],
)
def test_plain_postgres_urls_run_on_asyncpg(given: str, used: str) -> None:
    settings = Settings(database_url=given, redis_url="redis://127.0.0.1:6379/0")
    assert settings.database_url == used
    assert settings.mode() == "distributed"


def test_an_engine_accepts_a_url_that_skipped_validation() -> None:
    """`model_copy(update=...)` does not validate: the engine normalises on its own too."""
    engine = make_engine("postgres://u@127.0.0.1:1/app")
    assert engine.url.drivername == "postgresql+asyncpg"
    assert engine.url.database == "app"


def test_dot_env_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "SENTIFLOW_DATABASE_URL=postgres://from-file@h/db\n"
        "SENTIFLOW_REDIS_URL=redis://from-file:6379/0\n"
        "SENTIFLOW_BATCH_SIZE=123\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("SENTIFLOW_DATABASE_URL", "SENTIFLOW_REDIS_URL", "SENTIFLOW_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SENTIFLOW_REDIS_URL", "redis://from-env:6379/0")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://from-file@h/db"
    assert settings.redis_url == "redis://from-env:6379/0"
    assert settings.batch_size == 123


def test_the_pooler_setting_is_checked() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="database_pooler"):
        Settings(database_pooler="session")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h:6543/db?pgbouncer=true", "postgresql+asyncpg://u@h:6543/db"),
        (
            "postgres://u@h/db?sslmode=require&pooler=transaction",
            "postgresql+asyncpg://u@h/db?ssl=require",
        ),
    ],
)
def test_a_pooler_named_in_the_url_turns_the_setting_on(given: str, used: str) -> None:
    settings = Settings(database_url=given, redis_url="redis://127.0.0.1:6379/0")
    assert settings.database_url == used
    assert settings.database_pooler == "transaction"


def test_without_a_pooler_parameter_the_url_is_kept() -> None:
    settings = Settings(database_url="postgresql://u@h/db?application_name=x")
    assert settings.database_url == "postgresql+asyncpg://u@h/db?application_name=x"
    assert settings.database_pooler == "none"
