"""A user's history in ranking: the option `seen_sessions` (demote what this user was shown in
their last N sessions) checked;
the engine reads the items it names (`store.rank_sessions.seen_items`) under the deadline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sentiflow.errors import ValidationFailed

OPTION: Final = "seen_sessions"
MAX_SESSIONS: Final = 100


def sessions_to_read(options: Mapping[str, Any], user_id: str | None) -> int:
    """How many of the user's last sessions the request asks to demote (0: none)."""
    value = options.get(OPTION, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SESSIONS:
        raise ValidationFailed(
            f"options.{OPTION} must be a whole number of sessions from 0 to {MAX_SESSIONS}, "
            f"not {value!r}",
            field=f"options.{OPTION}",
        )
    if value and user_id is None:
        raise ValidationFailed(
            f"options.{OPTION} needs to know the user: send session.user_id with the feed",
            field=f"options.{OPTION}",
        )
    return value
