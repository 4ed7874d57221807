"""API keys with scopes. A key is `sf_<id>_<secret>` (32 random bytes); the store keeps only
its SHA-256, looked up by id and compared in constant time.

Scopes: `read` (GETs, when SENTIFLOW_READS_NEED_KEY), `ingest` (POST /api/posts), `review`
(corrections, review queue), `admin` (keys, datasets, models). `admin` grants every scope.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sentiflow.errors import Forbidden, Unauthorized, ValidationFailed
from sentiflow.ratelimit.base import Rate
from sentiflow.settings import Settings
from sentiflow.store import api_keys as key_store
from sentiflow.store.db import Store

Scope = Literal["read", "ingest", "review", "admin"]
SCOPES: Final[tuple[Scope, ...]] = ("read", "ingest", "review", "admin")
PREFIX: Final = "sf_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key's name and scopes, or `local` when keys are not required."""

    name: str
    scopes: frozenset[str]
    key_id: str | None = None
    rate_limit: str | None = None  # the key's own, over every scope's default

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


LOCAL: Final = Principal(name="local", scopes=frozenset(SCOPES))


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    rate_limit: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiKey:
        return cls(
            id=row["id"],
            name=row["name"],
            scopes=list(row["scopes"]),
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
            rate_limit=row.get("rate_limit"),
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_enabled(settings: Settings) -> bool:
    """Keys are required unless disabled, or `auto` in embedded mode on a loopback address."""
    return auth_decision(settings)[0]


def auth_decision(settings: Settings) -> tuple[bool, str]:
    """Whether keys are required, and why, from the address the server listens on
    (`settings.host`, which `run` and `api` set from --host)."""
    where = f"listening on {settings.host}"
    loopback = _is_loopback(settings.host)
    if settings.auth == "required":
        return True, f"keys required: SENTIFLOW_AUTH=required ({where})"
    if settings.auth == "disabled":
        if loopback:
            return False, f"keys off: SENTIFLOW_AUTH=disabled ({where}, loopback only)"
        return False, (
            f"WARNING: keys off although {where} is reachable from other machines "
            "(SENTIFLOW_AUTH=disabled): anyone who can reach it can ingest, correct and "
            "create admin keys; unset SENTIFLOW_AUTH or listen on 127.0.0.1"
        )
    if not loopback:
        return True, f"keys required: {where}, which other machines can reach"
    if not settings.embedded:
        return True, f"keys required: distributed mode ({where})"
    return False, f"keys not required: {where}, loopback only (this machine alone)"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(
    store: Store, *, name: str, scopes: Sequence[str], rate_limit: str | None = None
) -> tuple[str, ApiKey]:
    """A new key: returns the token (shown once, never stored) and its record. `rate_limit`
    ("20/s") replaces the scopes' default limits for this key."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed(
            f"unknown or missing scope {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(SCOPES)}",
            field="scope",
        )
    if not name.strip():
        raise ValidationFailed("a key needs a name, e.g. --name support-team", field="name")
    if rate_limit is not None:
        rate_limit = rate_limit.replace(" ", "")
        Rate.parse(rate_limit, field="rate_limit")
    key_id = secrets.token_hex(6)
    token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    ordered = [s for s in SCOPES if s in scopes]
    row = await key_store.insert_key(
        store,
        key_id=key_id,
        name=name.strip(),
        key_hash=hash_key(token),
        scopes=ordered,
        rate_limit=rate_limit,
    )
    return token, ApiKey.from_row(row)


async def list_keys(store: Store) -> list[ApiKey]:
    return [ApiKey.from_row(r) for r in await key_store.list_keys(store)]


async def revoke_key(store: Store, id_or_name: str) -> int:
    return await key_store.revoke_key(store, id_or_name)


async def authenticate(store: Store, token: str | None) -> Principal:
    """The principal of a presented key; `Unauthorized` when missing, malformed or revoked."""
    if not token:
        raise Unauthorized(
            "this endpoint needs an API key: send 'Authorization: Bearer <key>' or "
            "'X-API-Key: <key>' (create one with `sentiflow keys create`)"
        )
    parts = token.split("_", 2)
    row = None
    if len(parts) == 3 and token.startswith(PREFIX):
        row = await key_store.get_key(store, parts[1])
    # Compare even when no row was found, so a miss and a wrong secret take the same time.
    expected = row["key_hash"] if row else "0" * 64
    if not hmac.compare_digest(expected, hash_key(token)) or row is None:
        raise Unauthorized("the API key is not valid; check it or create a new one")
    return principal_of(row)


def principal_of(row: dict[str, Any]) -> Principal:
    """The principal of a stored key; `Unauthorized` once it is revoked."""
    if row["revoked_at"] is not None:
        raise Unauthorized(f"the API key {row['name']!r} was revoked; ask for a new one")
    return Principal(
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        key_id=row["id"],
        rate_limit=row.get("rate_limit"),
    )


def check_scope(principal: Principal, scope: str) -> Principal:
    if not principal.allows(scope):
        raise Forbidden(
            f"the API key {principal.name!r} has scopes {', '.join(sorted(principal.scopes))}; "
            f"this endpoint needs {scope!r}: use a key with that scope"
        )
    return principal
