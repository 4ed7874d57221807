"""sentiflow's exceptions. Every one carries a message that says what to do.

SentiflowError          base; `code` and `status` map it onto the API's error shape
├── ValidationFailed    bad input (422), names the field
├── Unauthorized        no API key, or one that is unknown or revoked (401)
├── Forbidden           an API key without the scope the endpoint needs (403)
├── NotFound            no such resource (404)
├── Conflict            the resource is not in a state that allows this (409)
├── TooMany             come back later (429), with a retry-after
│   ├── Backpressure    the queue is full
│   └── RateLimited     a key or client address is over its rate limit
├── Unavailable         a backing service is down (503), names it
└── ConfigError         settings that cannot work; raised at start-up

`caused_by` looks through an exception's causes, for callers that classify failures.
"""

from __future__ import annotations

from collections.abc import Callable


class SentiflowError(Exception):
    code = "error"
    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(SentiflowError):
    code = "invalid"
    status = 422


class Unauthorized(SentiflowError):
    code = "unauthorized"
    status = 401


class Forbidden(SentiflowError):
    code = "forbidden"
    status = 403


class NotFound(SentiflowError):
    code = "not_found"
    status = 404


class Conflict(SentiflowError):
    code = "conflict"
    status = 409


class TooMany(SentiflowError):
    """Come back later: 429 with a Retry-After."""

    status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Backpressure(TooMany):
    code = "backpressure"


class RateLimited(TooMany):
    code = "rate_limited"


class Unavailable(SentiflowError):
    code = "unavailable"
    status = 503

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


class ConfigError(SentiflowError):
    code = "config"
    status = 500


def caused_by(exc: BaseException, matches: Callable[[BaseException], bool]) -> bool:
    """True when `exc`, or one of the (up to five) exceptions that caused it, `matches`. A
    database driver's error wrapped by SQLAlchemy is found through its `orig`."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if matches(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False
