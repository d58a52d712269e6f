"""Go's ``time`` as sprig's date functions use it: layouts (``2006-01-02 15:04:05``), durations.

Go's ``Local`` zone is UTC here: a CA's templates should not depend on the host's zone."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from typing import Any, Callable

from appliance.templates.values import GoTime

UTC = datetime.timezone.utc
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Longest first, as Go's nextStdChunk matches them.
_TOKENS = ["January", "Monday", "Z07:00:00", "-07:00:00", "Z070000", "-070000", "Z07:00", "-07:00", "Z0700", "-0700",
           "2006", "__2", "002", "Jan", "Mon", "MST", "Z07", "-07", "_2", "01", "02", "03", "04", "05", "06", "15",
           "PM", "pm", "1", "2", "3", "4", "5"]
_FRACTION = re.compile(r"[.,](0+|9+)(?!\d)")


def _offset(moment: datetime.datetime, token: str) -> str:
    delta = moment.utcoffset() or datetime.timedelta(0)
    if token.startswith("Z") and delta == datetime.timedelta(0):
        return "Z"
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    core = token.lstrip("Z-")
    if core == "07":
        return f"{sign}{hours:02d}"
    if core in ("0700", "07:00"):
        sep = ":" if ":" in core else ""
        return f"{sign}{hours:02d}{sep}{minutes:02d}"
    sep = ":" if ":" in core else ""
    return f"{sign}{hours:02d}{sep}{minutes:02d}{sep}{secs:02d}"


def _chunk(layout: str, index: int) -> tuple[str, int]:
    """The std token at ``index`` (or '' and the next index for a literal character)."""
    fraction = _FRACTION.match(layout, index)
    if fraction:
        return fraction.group(0), fraction.end()
    for token in _TOKENS:
        if layout.startswith(token, index):
            if token in ("Jan", "Mon") and layout[index + 3:index + 4].islower():
                return "", index + 1
            return token, index + len(token)
    return "", index + 1


def format_time(value: GoTime, layout: str) -> str:
    """time.Time.Format."""
    moment = value.moment
    out: list[str] = []
    index = 0
    while index < len(layout):
        token, after = _chunk(layout, index)
        if not token:
            out.append(layout[index])
            index = after
            continue
        index = after
        hour12 = moment.hour % 12 or 12
        simple: dict[str, Callable[[], str]] = {
            "2006": lambda: f"{moment.year:04d}", "06": lambda: f"{moment.year % 100:02d}",
            "01": lambda: f"{moment.month:02d}", "1": lambda: str(moment.month),
            "January": lambda: _MONTHS[moment.month - 1], "Jan": lambda: _MONTHS[moment.month - 1][:3],
            "02": lambda: f"{moment.day:02d}", "2": lambda: str(moment.day), "_2": lambda: f"{moment.day:2d}",
            "002": lambda: f"{moment.timetuple().tm_yday:03d}", "__2": lambda: f"{moment.timetuple().tm_yday:3d}",
            "15": lambda: f"{moment.hour:02d}", "03": lambda: f"{hour12:02d}", "3": lambda: str(hour12),
            "04": lambda: f"{moment.minute:02d}", "4": lambda: str(moment.minute),
            "05": lambda: f"{moment.second:02d}", "5": lambda: str(moment.second),
            "PM": lambda: "PM" if moment.hour >= 12 else "AM", "pm": lambda: "pm" if moment.hour >= 12 else "am",
            "Monday": lambda: _DAYS[moment.weekday()], "Mon": lambda: _DAYS[moment.weekday()][:3],
            "MST": lambda: value.zone_name(),
        }
        if token in simple:
            out.append(simple[token]())
        elif token[0] in ".,":
            digits = len(token) - 1
            nanos = f"{moment.microsecond * 1000 + value.nanos_extra:09d}"[:digits]
            if token[1] == "9":
                nanos = nanos.rstrip("0")
                out.append(token[0] + nanos if nanos else "")
            else:
                out.append(token[0] + nanos)
        else:
            out.append(_offset(moment, token))
    return "".join(out)


_PARSE_PATTERNS = {
    "2006": r"(?P<year>\d{4})", "06": r"(?P<year2>\d{2})", "01": r"(?P<month>\d{2})", "1": r"(?P<month>\d{1,2})",
    "January": "(?P<monthname>" + "|".join(_MONTHS) + ")", "Jan": "(?P<mon>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "02": r"(?P<day>\d{2})", "2": r"(?P<day>\d{1,2})", "_2": r" ?(?P<day>\d{1,2})", "15": r"(?P<hour>\d{2})",
    "03": r"(?P<hour12>\d{2})", "3": r"(?P<hour12>\d{1,2})", "04": r"(?P<minute>\d{2})", "4": r"(?P<minute>\d{1,2})",
    "05": r"(?P<second>\d{2})", "5": r"(?P<second>\d{1,2})", "PM": r"(?P<ampm>AM|PM)", "pm": r"(?P<ampm>am|pm)",
    "Monday": "(?:" + "|".join(_DAYS) + ")", "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "MST": r"(?P<zone>[A-Z]{3,4}|[+-]\d{2,4})", "Z07:00": r"(?P<offset>Z|[+-]\d{2}:\d{2})",
    "-07:00": r"(?P<offset>[+-]\d{2}:\d{2})", "Z0700": r"(?P<offset>Z|[+-]\d{4})", "-0700": r"(?P<offset>[+-]\d{4})",
    "Z07": r"(?P<offset>Z|[+-]\d{2})", "-07": r"(?P<offset>[+-]\d{2})",
}


def parse_time(layout: str, text: str) -> GoTime:
    """time.ParseInLocation(layout, text, Local=UTC); ``ValueError`` when it does not match."""
    pattern, index, seen = [], 0, set()
    while index < len(layout):
        token, after = _chunk(layout, index)
        if not token:
            pattern.append(re.escape(layout[index]))
        elif token[0] in ".,":
            pattern.append(r"(?:[.,](?P<frac>\d+))?" if token[1] == "9" else r"[.,](?P<frac>\d{%d})" % (len(token) - 1))
        else:
            regex = _PARSE_PATTERNS.get(token)
            if regex is None:
                raise ValueError(f"unsupported layout element {token!r}")
            names = re.findall(r"\?P<(\w+)>", regex)
            if any(name in seen for name in names):
                regex = re.sub(r"\?P<\w+>", "?:", regex)
            seen.update(names)
            pattern.append(regex)
        index = after
    match = re.fullmatch("".join(pattern), text)
    if match is None:
        raise ValueError(f"parsing time {text!r} as {layout!r}")
    found = match.groupdict()
    year = int(found["year"]) if found.get("year") else (
        (2000 + int(found["year2"]) if int(found["year2"]) < 69 else 1900 + int(found["year2"]))
        if found.get("year2") else 0)
    month = int(found["month"]) if found.get("month") else (
        _MONTHS.index(found["monthname"]) + 1 if found.get("monthname") else (
            [m[:3] for m in _MONTHS].index(found["mon"]) + 1 if found.get("mon") else 1))
    hour = int(found["hour"]) if found.get("hour") else 0
    if found.get("hour12"):
        hour = int(found["hour12"]) % 12 + (12 if (found.get("ampm") or "").lower() == "pm" else 0)
    zone: datetime.tzinfo = UTC
    offset = found.get("offset")
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        zone = datetime.timezone(sign * datetime.timedelta(minutes=minutes))
    frac = (found.get("frac") or "").ljust(9, "0")[:9]
    moment = datetime.datetime(max(year, 1), month, int(found.get("day") or 1), hour, int(found.get("minute") or 0),
                               int(found.get("second") or 0), int(frac) // 1000 if frac else 0, tzinfo=zone)
    if year == 0:
        raise ValueError("year 0 is out of range here")
    return GoTime(moment, int(frac) % 1000 if frac else 0)


_UNITS = [("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3), ("µs", 10**3),
          ("μs", 10**3), ("ns", 1)]


def format_duration(nanos: int) -> str:
    """time.Duration.String."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    value = abs(nanos)
    if value < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if value >= size:
                return sign + _decimal(value, size) + unit
    hours, rest = divmod(value, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _decimal(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(unit).count("0")
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def parse_duration(text: str) -> int:
    """time.ParseDuration, in nanoseconds."""
    match = re.fullmatch(r"([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", text)
    if text in ("0", "+0", "-0"):
        return 0
    if match is None:
        raise ValueError(f"time: invalid duration {text!r}")
    units = dict(_UNITS)
    total = 0
    for number, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text):
        whole, _, frac = number.partition(".")
        scale = units[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    return -total if text.startswith("-") else total


def to_time(value: Any, now: Callable[[], datetime.datetime]) -> GoTime:
    """sprig's date argument: a time, or an integer of Unix seconds; anything else is now."""
    if isinstance(value, GoTime):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return GoTime(datetime.datetime.fromtimestamp(value, UTC))
    return GoTime(now())


def zone(name: str) -> datetime.tzinfo:
    """time.LoadLocation with sprig's fallback to UTC; Local is UTC here."""
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return UTC
