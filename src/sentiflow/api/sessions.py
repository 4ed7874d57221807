"""/api/session: sign the dashboard in with an API key (an HttpOnly session cookie, never the
key itself, never in a URL), see who is signed in, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from sentiflow.api.deps import Public, RateLimiterDep, SettingsDep, StoreDep, same_origin
from sentiflow.api.ratelimit import limit_request
from sentiflow.errors import Forbidden, SentiflowError
from sentiflow.feedback import sessions
from sentiflow.feedback.auth import auth_enabled
from sentiflow.feedback.sessions import COOKIE
from sentiflow.models import UtcDatetime
from sentiflow.settings import Settings

router = APIRouter(prefix="/api/session", tags=["session"], dependencies=[Public])


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="An API key (sf_…).")


class SessionOut(BaseModel):
    signed_in: bool
    name: str | None = None
    scopes: list[str] = Field(default_factory=list)
    expires_at: UtcDatetime | None = None
    keys_required: bool = Field(description="Whether writes need a key (or a sign-in).")
    reads_need_key: bool = Field(description="Whether reads need one too.")


def _status(settings: Settings) -> SessionOut:
    required = auth_enabled(settings)
    return SessionOut(
        signed_in=False,
        keys_required=required,
        reads_need_key=required and settings.reads_need_key,
    )


@router.get("", response_model=SessionOut)
async def current(request: Request, settings: SettingsDep, store: StoreDep) -> SessionOut:
    """Who the dashboard is signed in as, and whether it needs to sign in."""
    status = _status(settings)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return status
    try:
        principal = await sessions.resolve(store, cookie)
    except SentiflowError:
        return status
    return status.model_copy(
        update={"signed_in": True, "name": principal.name, "scopes": sorted(principal.scopes)}
    )


@router.post("", response_model=SessionOut, responses={401: {}, 403: {}, 422: {}, 429: {}})
async def sign_in(
    body: SignIn,
    request: Request,
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
    limiter: RateLimiterDep,
) -> SessionOut:
    """Sign in with an API key: sets an HttpOnly, SameSite=Strict session cookie that lasts
    SENTIFLOW_SESSION_TTL_S and ends when the key is revoked."""
    if "origin" in request.headers and not same_origin(request):
        raise Forbidden("sign in from the dashboard's own origin", field="origin")
    await limit_request(request, settings, limiter, "admin", None)
    ttl = settings.session_ttl_s
    session = await sessions.sign_in(store, body.key, ttl_s=ttl)
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    principal = session.principal
    return _status(settings).model_copy(
        update={
            "signed_in": True,
            "name": principal.name,
            "scopes": sorted(principal.scopes),
            "expires_at": session.expires_at,
        }
    )


@router.delete("", status_code=204)
async def sign_out(request: Request, store: StoreDep) -> Response:
    """End this browser's session (the key itself stays valid)."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await sessions.sign_out(store, cookie)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
