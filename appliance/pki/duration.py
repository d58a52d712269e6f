"""Go-style durations as step-ca writes them in ca.json ("24h", "5m0s", "1h30m")."""

from __future__ import annotations

import datetime
import re
from fractions import Fraction

from appliance.errors import BadRequest

#: Nanoseconds per unit.
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
#: Go's bound (an int64 of nanoseconds, about 292 years); no duration text is longer than this.
MAX_NANOSECONDS = 2**63 - 1
MAX_TEXT = 64


def _invalid(text: str, why: str = "use e.g. 24h, 5m, 1h30m") -> BadRequest:
    return BadRequest(f"invalid duration {text[:MAX_TEXT]!r} ({why})")


def parse_duration(text: str) -> datetime.timedelta:
    """Parse a Go duration; ``BadRequest`` if malformed, negative or beyond Go's bound (~2562047h)."""
    if not isinstance(text, str) or not text:
        raise BadRequest(f"invalid duration {text!r}")
    if len(text) > MAX_TEXT:
        raise _invalid(text, f"longer than {MAX_TEXT} characters")
    if text == "0":
        return datetime.timedelta(0)
    position, nanoseconds = 0, Fraction(0)
    while position < len(text):
        match = _PART.match(text, position)
        if not match:
            raise _invalid(text)
        nanoseconds += Fraction(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if nanoseconds > MAX_NANOSECONDS:
        raise _invalid(text, "out of range: at most 2562047h")
    return datetime.timedelta(microseconds=float(nanoseconds / 1000))


def parse_signed_duration(text: str) -> datetime.timedelta:
    """A Go duration with an optional leading ``-`` or ``+`` (step-ca's ``TimeDuration``)."""
    if isinstance(text, str) and text[:1] in ("-", "+"):
        value = parse_duration(text[1:])
        return -value if text[0] == "-" else value
    return parse_duration(text)


def parse_time_duration(value: str) -> datetime.datetime | datetime.timedelta | None:
    """step-ca's ``TimeDuration``: an RFC 3339 time, or a Go duration ("24h", "-5m") that
    the authority counts from the instant it checks the validity at; None for ""."""
    if not value:
        return None
    if value[-1:] in ("s", "m", "h") and value[:1] in "+-.0123456789":
        return parse_signed_duration(value)
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise BadRequest(f"time '{value[:40]}' has no time zone")
        return parsed.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        raise BadRequest(f"invalid time or duration '{value[:40]}'") from None


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
