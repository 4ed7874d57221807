"""/api/keys: create, list and revoke API keys (scope admin). A key is shown only once."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sentiflow.api.deps import AdminKey, StoreDep
from sentiflow.errors import NotFound
from sentiflow.feedback import auth
from sentiflow.feedback.auth import Scope
from sentiflow.models import UtcDatetime
from sentiflow.settings import RATE

router = APIRouter(prefix="/api/keys", tags=["keys"])


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    rate_limit: str | None = Field(
        None,
        pattern=RATE,
        description="This key's own rate limit (N/s, N/m or N/h, e.g. 20/s) instead of each "
        "scope's default.",
    )


class KeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None
    rate_limit: str | None = None


class NewKey(KeyOut):
    key: str = Field(description="The key itself; shown only now, store it safely.")


@router.post("", status_code=201, response_model=NewKey)
async def create_key(body: KeyIn, store: StoreDep, _: AdminKey) -> NewKey:
    token, record = await auth.create_key(
        store, name=body.name, scopes=body.scopes, rate_limit=body.rate_limit
    )
    return NewKey(key=token, **KeyOut.model_validate(record, from_attributes=True).model_dump())


@router.get("", response_model=list[KeyOut])
async def list_keys(store: StoreDep, _: AdminKey) -> list[KeyOut]:
    return [KeyOut.model_validate(k, from_attributes=True) for k in await auth.list_keys(store)]


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, store: StoreDep, _: AdminKey) -> None:
    if not await auth.revoke_key(store, key_id):
        raise NotFound(f"no live key {key_id!r}; GET /api/keys lists them", field="id")
