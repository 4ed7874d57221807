"""The bootstrap admin key: `SENTIFLOW_BOOTSTRAP_ADMIN_KEY`, accepted from an API process's
start, so a new deployment (compose, Kubernetes) can be used without creating a key by hand.
Only its hash is stored; the key itself is never logged.
"""

from __future__ import annotations

import structlog
from pydantic import SecretStr

from sentiflow.errors import ConfigError
from sentiflow.feedback.auth import hash_key
from sentiflow.store import api_keys as key_store
from sentiflow.store.db import Store

log = structlog.get_logger("sentiflow.feedback.bootstrap")

NAME = "bootstrap-admin"


async def ensure_bootstrap_key(store: Store, key: SecretStr | None) -> None:
    """Store `key` (already checked to be `sf_<id>_<secret>` by the settings) as an admin key.
    Idempotent, and safe when several API processes start at once. The same id with a new
    secret replaces the old secret; a bootstrap key revoked by an admin stays revoked."""
    if key is None:
        return
    token = key.get_secret_value()
    key_id = token.split("_", 2)[1]
    key_hash = hash_key(token)
    row = await key_store.upsert_named_key(
        store, key_id=key_id, name=NAME, key_hash=key_hash, scopes=["admin"]
    )
    if row["name"] != NAME:
        raise ConfigError(
            f"SENTIFLOW_BOOTSTRAP_ADMIN_KEY has the id {key_id!r} of the existing key "
            f"{row['name']!r}; give it another id (sf_<id>_<secret>)"
        )
    if row["revoked_at"] is not None:
        log.warning(
            "auth.bootstrap_key_revoked",
            key_id=key_id,
            hint="unset SENTIFLOW_BOOTSTRAP_ADMIN_KEY, or give it a new secret to use it again",
        )
        return
    log.info("auth.bootstrap_key", key_id=key_id, name=NAME)
