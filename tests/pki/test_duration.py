"""Go durations as step-ca writes them."""

from __future__ import annotations

import datetime

import pytest

from appliance.pki.duration import format_duration, parse_duration


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
