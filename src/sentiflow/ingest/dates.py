"""Dates as people write them in files: ISO 8601, RFC 2822, epoch seconds or milliseconds and
spreadsheet forms (`5/25/2019 15:54`, `25.05.2019`), read with python-dateutil. A file's
day/month order is learnt from its unambiguous dates; naive times are in the given zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser

from sentiflow.errors import ValidationFailed

Order = Literal["dayfirst", "monthfirst"]
# Epoch values at or above this are milliseconds: as seconds they would lie past the year 5000.
MILLIS_FROM: Final = 100_000_000_000
_NUMBER: Final = re.compile(r"[+-]?\d+(\.\d+)?")
# Two small numbers then a year, separated alike: 5/6/2019, 05.06.2019, 5-6-19 (with a time).
_NUMERIC_DATE: Final = re.compile(r"\s*(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})\b")
# RFC 2822 / HTTP: `Sat, 25 May 2019 15:54:00 +0200`, the weekday optional. Only these go to
# the e-mail parser, which would read other texts loosely (it ignores a trailing PM).
_RFC_2822: Final = re.compile(r"\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s")


def zone(name: str) -> tzinfo:
    """The zone named `name` (an IANA name such as Europe/Paris, or UTC)."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"unknown time zone {name!r}; pass an IANA name such as UTC or Europe/Paris",
            field="timezone",
        ) from None


@dataclass(slots=True)
class DateReader:
    """Reads one file's date column. `order` is the day/month order of `5/6/2019`-like dates:
    given (--dayfirst/--monthfirst), or learnt from the file's dates that can be read only one
    way; `fmt` (strptime) overrides every guess."""

    fmt: str | None = None
    order: Order | None = None
    tz: tzinfo = UTC
    learnt_from: str | None = field(default=None, init=False)

    def learn(self, values: Iterable[Any]) -> None:
        """Fix the day/month order from the first value that can be read only one way."""
        if self.order is not None or self.fmt is not None:
            return
        for value in values:
            only = _only_order(value)
            if only is not None:
                self.order, self.learnt_from = only, str(value)
                return

    def read(self, value: Any) -> datetime:
        """`value` as an aware UTC datetime; a ValueError says why not and what to pass."""
        if isinstance(value, datetime):
            return self._aware(value)
        if isinstance(value, date):
            return self._aware(datetime(value.year, value.month, value.day))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _epoch(float(value))
        text = str(value).strip()
        if self.fmt is not None:
            try:
                return self._aware(datetime.strptime(text, self.fmt))
            except ValueError:
                raise ValueError(f"{text!r} does not match --date-format {self.fmt!r}") from None
        if _NUMBER.fullmatch(text):
            return _epoch(float(text))
        return self._aware(self._parse(text))

    def _parse(self, text: str) -> datetime:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        if _RFC_2822.match(text):
            try:
                return parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                pass
        self._check_order(text)
        try:
            parsed: datetime = dateutil_parser.parse(text, dayfirst=self.order == "dayfirst")
        except (ValueError, OverflowError):
            raise ValueError(
                f"cannot read {text!r} as a date; pass --date-format (e.g. '%d/%m/%Y %H:%M'), "
                "or --date-fallback now to use the import time"
            ) from None
        return parsed

    def _check_order(self, text: str) -> None:
        match = _NUMERIC_DATE.match(text)
        if match is None:
            return
        first, second = int(match.group(1)), int(match.group(3))
        only = _only_order(text)
        if self.order is None and only is None and first != second:
            raise ValueError(
                f"{text!r} is ambiguous: day {first} of month {second}, or month {first} "
                f"day {second}? Pass --dayfirst or --monthfirst, or --date-format"
            )
        if self.order is not None and only is not None and only != self.order:
            seen = f" like {self.learnt_from!r}" if self.learnt_from else ""
            raise ValueError(
                f"{text!r} can only be {only.removesuffix('first')} first, but this file's "
                f"dates{seen} are {self.order.removesuffix('first')} first; fix the row or "
                "pass --date-format"
            )

    def _aware(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(UTC)


def _only_order(value: Any) -> Order | None:
    """The one day/month order a `5/25/2019`-like value allows, or None (either, or no such
    value)."""
    match = _NUMERIC_DATE.match(str(value))
    if match is None:
        return None
    first, second = int(match.group(1)), int(match.group(3))
    if first > 12 >= second:
        return "dayfirst"
    if second > 12 >= first:
        return "monthfirst"
    return None


def _epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= MILLIS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{number:g} is out of range for epoch seconds or milliseconds") from None
