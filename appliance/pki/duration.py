"""Go-style durations as step-ca writes them in ca.json ("24h", "5m0s", "1h30m")."""

from __future__ import annotations

import datetime
import re

from appliance.errors import BadRequest

_UNITS = {
    "ns": datetime.timedelta(microseconds=0.001),
    "us": datetime.timedelta(microseconds=1),
    "µs": datetime.timedelta(microseconds=1),
    "ms": datetime.timedelta(milliseconds=1),
    "s": datetime.timedelta(seconds=1),
    "m": datetime.timedelta(minutes=1),
    "h": datetime.timedelta(hours=1),
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> datetime.timedelta:
    """Parse a Go duration; ``BadRequest`` if malformed or negative."""
    if not isinstance(text, str) or not text:
        raise BadRequest(f"invalid duration {text!r}")
    if text == "0":
        return datetime.timedelta(0)
    position, total = 0, datetime.timedelta(0)
    while position < len(text):
        match = _PART.match(text, position)
        if not match:
            raise BadRequest(f"invalid duration {text!r} (use e.g. 24h, 5m, 1h30m)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total


def format_duration(value: datetime.timedelta) -> str:
    """A timedelta as Go prints it (``24h0m0s``, ``5m0s``, ``1.5s``)."""
    seconds = value.total_seconds()
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{secs_text}s"
    if minutes:
        return f"{sign}{int(minutes)}m{secs_text}s"
    return f"{sign}{secs_text}s"
