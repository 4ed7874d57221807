"""sentiflow's exceptions. Every one carries a message that says what to do.

SentiflowError          base; `code` and `status` map it onto the API's error shape
├── ValidationFailed    bad input (422), names the field
├── NotFound            no such resource (404)
├── Backpressure        the queue is full (429), with a retry-after
├── Unavailable         a backing service is down (503), names it
└── ConfigError         settings that cannot work; raised at start-up
"""

from __future__ import annotations


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


class NotFound(SentiflowError):
    code = "not_found"
    status = 404


class Backpressure(SentiflowError):
    code = "backpressure"
    status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(SentiflowError):
    code = "unavailable"
    status = 503

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


class ConfigError(SentiflowError):
    code = "config"
    status = 500
