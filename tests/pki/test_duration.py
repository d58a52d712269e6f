"""Go durations as step-ca writes them."""

from __future__ import annotations

import datetime

import pytest

from appliance.errors import BadRequest
from appliance.pki.duration import format_duration, parse_duration, parse_signed_duration


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", datetime.timedelta(hours=24)), ("5m0s", datetime.timedelta(minutes=5)),
    ("1h30m", datetime.timedelta(minutes=90)), ("1.5s", datetime.timedelta(seconds=1.5)),
    ("300ms", datetime.timedelta(milliseconds=300)), ("0", datetime.timedelta(0)),
])
def test_parse_duration(text: str, expected: datetime.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "5", "1d", "-5m", "h", "5m x"])
def test_parse_duration_refuses(bad: str) -> None:
    with pytest.raises(Exception, match="invalid duration"):
        parse_duration(bad)


def test_format_duration_like_go() -> None:
    assert format_duration(datetime.timedelta(hours=24)) == "24h0m0s"
    assert format_duration(datetime.timedelta(minutes=1)) == "1m0s"
    assert format_duration(datetime.timedelta(seconds=1.5)) == "1.5s"
    assert parse_duration(format_duration(datetime.timedelta(hours=1, seconds=7))) == datetime.timedelta(hours=1, seconds=7)


@pytest.mark.parametrize("huge", ["99999999999h", "9" * 40 + "h", "2562048h", "153722868m", "1" * 65])
def test_parse_duration_is_bounded_like_go(huge: str) -> None:
    """Go's int64 of nanoseconds (about 292 years); beyond it was an OverflowError."""
    with pytest.raises(BadRequest, match="invalid duration"):
        parse_duration(huge)
    assert parse_duration("2562047h") == datetime.timedelta(hours=2562047)


@pytest.mark.parametrize(("text", "expected"), [
    ("-5m", -datetime.timedelta(minutes=5)), ("+1h", datetime.timedelta(hours=1)), ("30s", datetime.timedelta(seconds=30)),
])
def test_parse_signed_duration(text: str, expected: datetime.timedelta) -> None:
    assert parse_signed_duration(text) == expected
