"""Go values as the interpreter holds them, their Go type names and their ``fmt`` form.

JSON data decodes as Go's ``encoding/json`` does into ``interface{}``: objects are
``map[string]interface {}`` (dict), arrays ``[]interface {}`` (list), numbers
``float64`` (float), plus string, bool and nil (None). Template number literals
are ``int`` (Python int). ``Invalid`` is Go's zero ``reflect.Value`` (a missing
map key): it prints as ``<no value>``.
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any


class _Invalid:
    """Go's invalid ``reflect.Value``."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = _Invalid()


class Int64(int):
    """A Go ``int64`` (sprig's arithmetic returns them)."""


class StrList(list):
    """A Go ``[]string`` (what sprig's string-list functions return)."""


class StrMap(dict):
    """A Go ``map[string]string``."""


class GoObject:
    """A Go struct or pointer in the template data: named fields, a Go type name,
    and the JSON Go's ``encoding/json`` would produce for it. ``zero`` marks a Go zero value
    of a named integer or slice type (a CSR without key usages): false in ``if``."""

    def __init__(self, type_name: str, fields: dict[str, Any], json_value: Any, text: str = "",
                 zero: bool = False) -> None:
        self.type_name = type_name
        self.fields = fields
        self.json_value = json_value
        self.text = text
        self.zero = zero

    def __repr__(self) -> str:
        return f"GoObject({self.type_name})"


class GoTime:
    """A Go ``time.Time``: an aware datetime plus the nanoseconds below its microseconds."""

    def __init__(self, moment: datetime.datetime, nanos_extra: int = 0) -> None:
        self.moment = moment
        self.nanos_extra = nanos_extra

    def zone_name(self) -> str:
        offset = self.moment.utcoffset()
        if not offset:
            return "UTC"
        name = self.moment.tzname() or ""
        if name and not name.startswith(("UTC", "+", "-")):
            return name
        seconds = int(offset.total_seconds())
        hours, minutes = divmod(abs(seconds) // 60, 60)
        return f"{'-' if seconds < 0 else '+'}{hours:02d}{minutes:02d}"

    def nanos(self) -> int:
        return self.moment.microsecond * 1000 + self.nanos_extra

    def method(self, name: str) -> Any:
        """The value of a method without arguments (Year, Day, Unix, ...); INVALID if there is none."""
        moment = self.moment
        methods = {
            "Year": lambda: moment.year, "Day": lambda: moment.day, "Hour": lambda: moment.hour,
            "Minute": lambda: moment.minute, "Second": lambda: moment.second, "Nanosecond": self.nanos,
            "YearDay": lambda: moment.timetuple().tm_yday, "Unix": lambda: Int64(int(moment.timestamp())),
            "IsZero": lambda: moment.year == 1 and moment.month == 1 and moment.day == 1 and not (
                moment.hour or moment.minute or moment.second or self.nanos()),
            "UTC": lambda: GoTime(moment.astimezone(datetime.timezone.utc), self.nanos_extra),
        }
        found = methods.get(name)
        return found() if found is not None else INVALID

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and (self.moment, self.nanos_extra) == (other.moment, other.nanos_extra)

    def __hash__(self) -> int:
        return hash((self.moment, self.nanos_extra))


def type_name(value: Any) -> str:
    """Go's ``%T`` of a value."""
    if value is None or value is INVALID:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, StrList):
        return "[]string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, StrMap):
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, bytes):
        return "[]uint8"
    if isinstance(value, GoObject):
        return value.type_name
    if isinstance(value, GoTime):
        return "time.Time"
    return type(value).__name__


def kind(value: Any) -> str:
    """Go's ``reflect.Kind`` name of a value (``invalid`` for nil)."""
    if value is None or value is INVALID:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, bytes)):
        return "slice"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, GoObject):
        return "ptr" if value.type_name.startswith("*") else "struct"
    if isinstance(value, GoTime):
        return "struct"
    return "invalid"


def truth(value: Any) -> bool:
    """Go's ``template.IsTrue``: zero values (and empty collections) are false."""
    if value is None or value is INVALID:
        return False
    if isinstance(value, GoObject):
        return not value.zero
    if isinstance(value, GoTime):
        return True
    return bool(value)


def _digits(value: float) -> tuple[str, int]:
    """Shortest decimal digits of ``value`` (positive, finite) and the decimal point position."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    return text, len(text) + int(exponent)


def format_float(value: float, verb: str = "g", precision: int = -1) -> str:
    """strconv.FormatFloat for the verbs e, E, f, g, G (precision -1: shortest)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1, value) < 0 else ""
    value = abs(value)
    if verb in "gG":
        if precision == -1:
            if value == 0:
                return sign + "0"
            digits, point = _digits(value)
            exp = point - 1
            if exp < -4 or exp >= 6:
                return sign + _exp_form(digits, exp, verb == "G" and "E" or "e")
            return sign + _fixed_form(digits, point)
        precision = precision or 1
        text = f"{value:.{precision - 1}e}"
        mantissa, exp_text = text.split("e")
        exp = int(exp_text)
        digits = mantissa.replace(".", "").rstrip("0") or "0"
        if value == 0:
            exp = 0
        if exp < -4 or exp >= precision:
            return sign + _exp_form(digits, exp, "E" if verb == "G" else "e")
        return sign + _fixed_form(digits, exp + 1)
    if verb in "eE":
        if precision == -1:
            if value == 0:
                return sign + "0" + verb + "+00"
            digits, point = _digits(value)
            return sign + _exp_form(digits, point - 1, verb)
        text = f"{value:.{precision}e}"
        mantissa, exp_text = text.split("e")
        exp = int(exp_text)
        return f"{sign}{mantissa}{verb}{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if precision == -1:
        if value == 0:
            return sign + "0"
        digits, point = _digits(value)
        return sign + _fixed_form(digits, point)
    return sign + f"{value:.{precision}f}"


def _exp_form(digits: str, exp: int, letter: str) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}{letter}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fixed_form(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def go_string_quote(text: str) -> str:
    """strconv.Quote: a Go double-quoted string literal."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\a":
            out.append("\\a")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == "\v":
            out.append("\\v")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF or code == 0xFFFD:
            out.append("\\ufffd" if code != 0xFFFD else char)
        elif not char.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def json_float(value: float) -> str:
    """A float64 as Go's ``encoding/json`` writes it."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {format_float(value)}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = format_float(value, "e", -1)
        mantissa, exponent = text.split("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{'-' if sign == '-' else '+'}{digits}"
    return format_float(value, "f", -1)
