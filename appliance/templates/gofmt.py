"""Go's ``fmt.Sprintf`` for the values templates hold (verbs v s q d b o x X c U e E f F g G t T %)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from appliance.templates.printing import format_value
from appliance.templates.values import (
    INVALID,
    format_float,
    go_string_quote,
    type_name,
)


@dataclass
class _Spec:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    precision: int | None = None


def _pad(text: str, spec: _Spec, numeric: bool = False) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if spec.zero and numeric:
        sign = text[0] if text[:1] in "+- " else ""
        return sign + "0" * fill + text[len(sign):]
    if spec.zero:
        return "0" * fill + text
    return " " * fill + text


def _integer(value: int, verb: str, spec: _Spec) -> str:
    negative = value < 0
    magnitude = -value if negative else value
    base = {"d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}[verb]
    digits = {2: f"{magnitude:b}", 8: f"{magnitude:o}", 10: str(magnitude), 16: f"{magnitude:x}"}[base]
    if verb == "X":
        digits = digits.upper()
    if spec.precision is not None:
        digits = "" if spec.precision == 0 and magnitude == 0 else digits.rjust(spec.precision, "0")
    prefix = ""
    if verb == "O":
        prefix = "0o"
    elif spec.sharp:
        prefix = {2: "0b", 8: "0" if not digits.startswith("0") else "", 16: "0x" if verb == "x" else "0X"}.get(base, "")
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    text = sign + prefix + digits
    if spec.zero and not spec.minus and spec.precision is None and spec.width and len(text) < spec.width:
        return sign + prefix + "0" * (spec.width - len(text)) + digits
    return _pad(text, _Spec(minus=spec.minus, width=spec.width))  # a precision turns zero padding off


def _sharp(num: str, verb: str, precision: int) -> str:
    """fmt's ``#`` flag on a float: keep a decimal point and trailing zeros (Go's fmtFloat)."""
    digits = (6 if precision == -1 else precision) if verb in "vgGxX" else 0
    tail, has_point, nonzero = "", False, False
    body = num
    for index in range(1, len(num)):
        char = num[index]
        if char == ".":
            has_point = True
        elif char in "pP" or (char in "eE" and verb not in "xX"):
            tail, body = num[index:], num[:index]
            break
        else:
            nonzero = nonzero or char != "0"
            if nonzero:
                digits -= 1
    if not has_point:
        if len(body) == 2 and body[1] == "0":
            digits -= 1
        body += "."
    return body + "0" * max(digits, 0) + tail


def _float(value: float, verb: str, spec: _Spec) -> str:
    precision = spec.precision if spec.precision is not None else (-1 if verb in "gGv" else 6)
    go_verb = {"v": "g", "F": "f"}.get(verb, verb)
    text = format_float(value, go_verb, precision)
    if spec.sharp and math.isfinite(value):
        signed = _sharp(("" if text.startswith("-") else "+") + text, verb, precision)
        text = signed[1:] if signed.startswith("+") else signed
    if spec.plus and not text.startswith(("-", "+")):
        text = "+" + text
    elif spec.space and not text.startswith(("-", "+")):
        text = " " + text
    if text in ("+Inf", "-Inf", "NaN", "+NaN", " NaN", " +Inf"):
        if not spec.plus and text == "+Inf":
            text = "+Inf" if spec.plus else "+Inf"
        return _pad(text, _Spec(minus=spec.minus, width=spec.width))
    return _pad(text, spec, numeric=True)


def _string(text: str, verb: str, spec: _Spec) -> str:
    if spec.precision is not None:
        text = text[:spec.precision]
    if verb in "sv":
        return _pad(text, spec)
    if verb == "q":
        if spec.sharp and "`" not in text and all(c.isprintable() or c == "\t" for c in text):
            return _pad("`" + text + "`", spec)
        quoted = go_string_quote(text)
        if spec.plus:
            quoted = quoted.encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00")
        return _pad(quoted, spec)
    raw = text.encode()
    hexed = raw.hex() if verb == "x" else raw.hex().upper()
    if spec.space:
        parts = [hexed[i:i + 2] for i in range(0, len(hexed), 2)]
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
        hexed = " ".join(prefix + part for part in parts)
    elif spec.sharp and hexed:
        hexed = ("0x" if verb == "x" else "0X") + hexed
    return _pad(hexed, spec)


def _bad(verb: str, value: Any, spec: _Spec | None = None) -> str:
    if value is None or value is INVALID:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(value)}={format_one('v', value, spec or _Spec())})"


def _hex_float(value: float, verb: str, spec: _Spec) -> str:
    if verb == "b":
        if value == 0:
            return "0p-1074"
        m, e = math.frexp(abs(value))
        bits = int(m * (1 << 53))
        return f"{'-' if value < 0 else ''}{bits}p{e - 53:+d}"
    mantissa_fraction, exponent2 = math.frexp(abs(value))  # normalised, subnormals included (as Go)
    bits = int(mantissa_fraction * (1 << 53))
    sign = "-" if math.copysign(1, value) < 0 else ""
    if value == 0:
        mantissa, exp = "0", 0
    else:
        fraction = f"{bits - (1 << 52):013x}".rstrip("0")
        mantissa, exp = "1" + ("." + fraction if fraction else ""), exponent2 - 1
    out = f"{sign}0x{mantissa}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if spec.sharp:
        signed = _sharp(("" if sign else "+") + out, verb, spec.precision if spec.precision is not None else -1)
        out = signed[1:] if signed.startswith("+") else signed
    return _pad(out.upper() if verb == "X" else out, spec)


def format_one(verb: str, value: Any, spec: _Spec) -> str:
    """One operand formatted by one verb."""
    if verb == "T":
        return _pad(type_name(value), spec)
    if value is None or value is INVALID:
        return _pad("<nil>", spec) if verb == "v" else _bad(verb, value)
    if isinstance(value, bool):
        return _pad(format_value(value), spec) if verb in "vt" else _bad(verb, value, spec)
    if isinstance(value, int):
        if verb in "vdboOxX":
            return _integer(value, "d" if verb == "v" else verb, spec)
        valid = 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF
        if verb == "c":
            return _pad(chr(value) if valid else "\ufffd", spec)
        if verb == "q":
            char = chr(value) if valid else "\ufffd"
            return _pad("'" + go_string_quote(char)[1:-1].replace("'", "\\'").replace('\\"', '"') + "'", spec)
        if verb == "U":
            return _pad(f"U+{value & ((1 << 64) - 1):04X}", spec)
        return _bad(verb, value, spec)
    if isinstance(value, float):
        if verb in "veEfFgG":
            return _float(value, verb, spec)
        if verb in "xXb":
            return _hex_float(value, verb, spec)
        return _bad(verb, value, spec)
    if isinstance(value, str):
        if verb in "svqxX":
            return _string(value, verb, spec)
        return _bad(verb, value, spec)
    if isinstance(value, list):
        return "[" + " ".join(_element(verb, item, spec) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{format_one(verb, key, spec)}:{_element(verb, value[key], spec)}"
                                 for key in sorted(value)) + "]"
    return _pad(format_value(value), spec) if verb in "vs" else _bad(verb, value, spec)


def go_syntax(value: Any, nested: bool = False) -> str:
    """``%#v``: the value as Go source."""
    if value is None or value is INVALID:
        return "interface {}(nil)" if nested else "<nil>"
    if isinstance(value, str):
        return go_string_quote(value)
    if isinstance(value, float):
        return format_float(value, "g", -1)
    if isinstance(value, list):
        return type_name(value) + "{" + ", ".join(go_syntax(item, True) for item in value) + "}"
    if isinstance(value, dict):
        return type_name(value) + "{" + ", ".join(f"{go_string_quote(str(key))}:{go_syntax(value[key], True)}"
                                                  for key in sorted(value)) + "}"
    return format_value(value)


def _element(verb: str, value: Any, spec: _Spec) -> str:
    """An element of a slice or map: a nil interface prints as <nil> (unpadded) whatever the verb."""
    return "<nil>" if value is None else format_one(verb, value, spec)


def sprintf(template: str, args: list[Any]) -> str:
    """Go's ``fmt.Sprintf``, including its ``%!verb(type=value)`` and ``%!(EXTRA ...)`` reports."""
    out: list[str] = []
    index, used = 0, 0
    length = len(template)
    while index < length:
        percent = template.find("%", index)
        if percent < 0:
            out.append(template[index:])
            break
        out.append(template[index:percent])
        index = percent + 1
        spec = _Spec()
        while index < length and template[index] in "+-# 0":
            flag = template[index]
            if flag == "+":
                spec.plus = True
            elif flag == "-":
                spec.minus, spec.zero = True, False
            elif flag == "#":
                spec.sharp = True
            elif flag == " ":
                spec.space = True
            elif not spec.minus:
                spec.zero = True
            index += 1
        spec.width, index, used = _number(template, index, args, used, spec, width=True)
        if index < length and template[index] == ".":
            index += 1
            precision, index, used = _number(template, index, args, used, spec, width=False)
            spec.precision = precision if precision is not None else 0
        if index >= length:
            out.append("%!(NOVERB)")
            break
        verb = template[index]
        index += 1
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[used]
        used += 1
        if verb == "v" and spec.sharp:
            out.append(_pad(go_syntax(value), spec))
            continue
        if verb == "v":
            spec.plus = False  # %+v is Go's plusV form, not the flag
        out.append(format_one(verb, value, spec))
    if used < len(args):
        extra = ", ".join("<nil>" if a is None or a is INVALID else f"{type_name(a)}={format_value(a)}"
                          for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _number(template: str, index: int, args: list[Any], used: int, spec: _Spec,
            width: bool) -> tuple[int | None, int, int]:
    if index < len(template) and template[index] == "*":
        value = args[used] if used < len(args) else None
        if isinstance(value, int) and not isinstance(value, bool):
            if width and value < 0:
                spec.minus, spec.zero = True, False
                value = -value
            return (value if value >= 0 else None), index + 1, used + 1
        return None, index + 1, used + 1
    start = index
    while index < len(template) and template[index].isdigit():
        index += 1
    return (int(template[start:index]) if index > start else None), index, used
