"""Dates as people write them: each form a file may hold, the zone of naive times, a file's
day/month order learnt from its unambiguous dates, and the messages when a date cannot be read."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sentiflow.errors import ValidationFailed
from sentiflow.ingest.dates import DateReader, zone

AT = datetime(2019, 5, 25, 15, 54, tzinfo=UTC)
EPOCH = 1558799640  # AT in seconds since 1970


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-05-25T15:54:00Z", AT),
        ("2019-05-25T17:54:00+02:00", AT),
        ("2019-05-25 15:54:00", AT),
        ("2019-05-25", datetime(2019, 5, 25, tzinfo=UTC)),
        ("Sat, 25 May 2019 17:54:00 +0200", AT),
        ("Sat, 25 May 2019 15:54:00 GMT", AT),
        (str(EPOCH), AT),
        (str(EPOCH * 1000), AT),
        (EPOCH, AT),
        (EPOCH * 1000.0, AT),
        ("5/25/2019 15:54", AT),
        ("25/5/2019 15:54", AT),
        ("25.05.2019", datetime(2019, 5, 25, tzinfo=UTC)),
        ("25.05.2019 15:54", AT),
        ("May 25, 2019 3:54 PM", AT),
        (datetime(2019, 5, 25, 15, 54), AT),
        (date(2019, 5, 25), datetime(2019, 5, 25, tzinfo=UTC)),
    ],
)
def test_each_date_form(value: object, expected: datetime) -> None:
    assert DateReader().read(value) == expected


def test_an_ambiguous_date_says_which_flag_to_pass() -> None:
    with pytest.raises(ValueError) as caught:
        DateReader().read("5/6/2019 10:00")
    assert str(caught.value) == (
        "'5/6/2019 10:00' is ambiguous: day 5 of month 6, or month 5 day 6? "
        "Pass --dayfirst or --monthfirst, or --date-format"
    )


def test_the_given_order_reads_ambiguous_dates() -> None:
    assert DateReader(order="dayfirst").read("5/6/2019").month == 6
    assert DateReader(order="monthfirst").read("5/6/2019").month == 5
    # A day and month that are equal read the same either way.
    assert DateReader().read("6/6/2019") == datetime(2019, 6, 6, tzinfo=UTC)


def test_the_order_is_learnt_from_the_file() -> None:
    reader = DateReader()
    reader.learn(["5/6/2019 10:00", "", "5/25/2019 15:54"])
    assert reader.order == "monthfirst"
    assert reader.read("5/6/2019 10:00") == datetime(2019, 5, 6, 10, tzinfo=UTC)
    european = DateReader()
    european.learn(["05.06.2019", "25.05.2019"])
    assert european.read("05.06.2019") == datetime(2019, 6, 5, tzinfo=UTC)


def test_a_date_against_the_learnt_order_is_named() -> None:
    reader = DateReader()
    reader.learn(["5/25/2019"])
    with pytest.raises(ValueError, match=r"'25/5/2019' can only be day first, but this file's "):
        reader.read("25/5/2019")


def test_naive_times_are_in_the_given_zone() -> None:
    paris = DateReader(tz=zone("Europe/Paris"))
    assert paris.read("2019-05-25 17:54") == AT
    # An explicit offset wins over the zone.
    assert paris.read("2019-05-25T15:54:00Z") == AT
    assert zone("utc") is UTC
    with pytest.raises(ValidationFailed, match="unknown time zone 'Mars/Olympus'") as caught:
        zone("Mars/Olympus")
    assert caught.value.field == "timezone"


def test_a_date_format_overrides_every_guess() -> None:
    reader = DateReader(fmt="%d|%m|%Y %H.%M")
    assert reader.read("25|05|2019 15.54") == AT
    with pytest.raises(ValueError, match=r"'2019-05-25' does not match --date-format"):
        reader.read("2019-05-25")


def test_an_unreadable_date_says_what_to_do() -> None:
    with pytest.raises(ValueError) as caught:
        DateReader().read("the day after the party")
    assert "pass --date-format" in str(caught.value)
    assert "--date-fallback now" in str(caught.value)
