"""The sprig (v3) functions step-ca's templates may call, with sprig's semantics.

Only pure functions: nothing that reads the environment, files, the network or a
random source (``env``, ``expandenv``, ``getHostByName``, ``rand*``, ``uuidv4``,
``genPrivateKey``, ``now`` ... are absent, so a template using them fails to parse).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import math
import posixpath
import json
import re
import zlib
from typing import Any, Callable

from appliance.templates.errors import TemplateError, TemplateFail
from appliance.templates.execute import Function
from appliance.templates.goregex import compile_go
from appliance.templates.gotime import UTC, format_duration, format_time, parse_duration, parse_time, to_time, zone
from appliance.templates.printing import format_value
from appliance.templates.values import (
    INVALID,
    GoObject,
    GoTime,
    Int64,
    StrList,
    StrMap,
    json_float,
    kind,
    truth,
    type_name,
)


def strval(value: Any) -> str:
    """sprig's ``strval``: strings as they are, anything else as ``%v``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # a Go byte string: bytes that are not UTF-8 kept as surrogates
        return value.decode("utf-8", "surrogateescape")
    return format_value(value)


def _empty(value: Any) -> bool:
    if value is None or value is INVALID:
        return True
    if isinstance(value, GoObject):
        return False
    return not truth(value)


def _to_int(value: Any) -> int:
    """spf13/cast ``ToInt64E`` with sprig's ignore-the-error: 0 when it does not convert."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value != value or not -(2.0 ** 63) <= value < 2.0 ** 63:
            return -(1 << 63)  # Go's out-of-range float conversion on amd64
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 0) if not re.fullmatch(r"[+-]?0[0-9]+", value) else 0
        except ValueError:
            return 0
    return 0


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value) else 0.0
        except ValueError:
            return 0.0
    return 0.0


def _wrap64(value: int) -> Int64:
    value &= (1 << 64) - 1
    return Int64(value - (1 << 64) if value >= 1 << 63 else value)


def _div(a: Any, b: Any) -> Int64:
    x, y = _to_int(a), _to_int(b)
    if y == 0:
        raise TemplateError("runtime error: integer divide by zero")
    quotient = abs(x) // abs(y)
    return _wrap64(quotient if (x >= 0) == (y >= 0) else -quotient)


def _mod(a: Any, b: Any) -> Int64:
    x, y = _to_int(a), _to_int(b)
    if y == 0:
        raise TemplateError("runtime error: integer divide by zero")
    remainder = abs(x) % abs(y)
    return _wrap64(remainder if x >= 0 else -remainder)


def _list_of(value: Any, name: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise TemplateError(f"Cannot find {name} on type {kind(value)}")


def _strslice(value: Any) -> list[str]:
    if isinstance(value, list):
        return [strval(item) for item in value if item is not None]
    if value is None or value is INVALID:
        return []
    return [strval(value)]


#: unicode.IsSpace (Python's isspace also counts U+001C..U+001F).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000"


def _per_rune(text: str, change: Callable[[str], str]) -> str:
    """Go's case mapping: rune by rune, a rune without a one-rune mapping unchanged (ß stays ß)."""
    out = []
    for char in text:
        changed = change(char)
        out.append(changed if len(changed) == 1 else char)
    return "".join(out)


def _nospace(text: str) -> str:
    """goutils.DeleteWhiteSpace: byte by byte, so a string that loses a space has its other
    non-ASCII bytes re-encoded one by one (sprig's behaviour, kept)."""
    raw = text.encode()
    kept = [b for b in raw if chr(b) not in GO_SPACE]
    if len(kept) == len(raw):
        return text
    return "".join(chr(b) for b in kept)


def _title(text: str) -> str:
    out, previous = [], " "
    for char in text:
        separator = not (previous.isalnum() or previous == "_") if ord(previous) < 0x80 else previous.isspace()
        out.append(_per_rune(char, str.upper) if separator else char)
        previous = char
    return "".join(out)


def _untitle(text: str) -> str:
    out, previous = [], " "
    for char in text:
        out.append(_per_rune(char, str.lower) if previous.isspace() else char)
        previous = char
    return "".join(out)


def _go_slice(raw: bytes, start: int, end: int) -> bytes:
    """``raw[start:end]`` with Go's bounds check (a panic there is an error here)."""
    if not 0 <= start <= end <= len(raw):
        raise TemplateError(f"runtime error: slice bounds out of range [{start}:{end}]")
    return raw[start:end]


def _substr(start: int, end: int, text: str) -> str:
    raw = text.encode()
    if start < 0:
        piece = _go_slice(raw, 0, end)
    elif end < 0 or end > len(raw):
        piece = _go_slice(raw, start, len(raw))
    else:
        piece = _go_slice(raw, start, end)
    return piece.decode("utf-8", "replace")


def _trunc(count: int, text: str) -> str:
    raw = text.encode()
    if count < 0 and len(raw) + count > 0:
        return raw[len(raw) + count:].decode("utf-8", "replace")
    if count >= 0 and len(raw) > count:
        return raw[:count].decode("utf-8", "replace")
    return text


def _indent(spaces: int, text: str) -> str:
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _quote(*values: Any) -> str:
    from appliance.templates.values import go_string_quote
    return " ".join(go_string_quote(strval(value)) for value in values if value is not None)


def _squote(*values: Any) -> str:
    return " ".join(f"'{strval(value)}'" for value in values if value is not None)


def _cat(*values: Any) -> str:
    return " ".join(format_value(value) for value in values if value is not None)


def _split(separator: str, text: str) -> StrMap:
    return StrMap({f"_{index}": part for index, part in enumerate(_go_split(text, separator))})


def _go_split(text: str, separator: str, limit: int = -1) -> list[str]:
    if separator == "":
        chars = list(text)
        if limit > 0 and len(chars) > limit:
            return chars[:limit - 1] + ["".join(chars[limit - 1:])]
        return chars
    if limit == 0:
        return []
    return text.split(separator, limit - 1) if limit > 0 else text.split(separator)


def _json_text(value: Any, indent: bool = False, escape: bool = True) -> str:
    """Go's ``encoding/json`` of a value (sorted map keys, HTML escaped unless ``escape`` is off)."""
    text = _encode(value, "  " if indent else None, 0)
    if escape:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _encode(value: Any, indent: str | None, level: int) -> str:
    if value is None or value is INVALID:
        return "null"
    if isinstance(value, GoObject):
        return _encode(value.json_value, indent, level)
    if isinstance(value, GoTime):
        return _json_string(format_time(value, "2006-01-02T15:04:05.999999999Z07:00"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, bytes):
        return _json_string(base64.b64encode(value).decode())
    if isinstance(value, dict):
        items = [(str(key), value[key]) for key in sorted(value, key=str)]
        if not items:
            return "{}"
        parts = [f"{_json_string(k)}:{' ' if indent is not None else ''}{_encode(v, indent, level + 1)}"
                 for k, v in items]
        return _join("{", "}", parts, indent, level)
    if isinstance(value, list):
        if not value:
            return "[]"
        return _join("[", "]", [_encode(v, indent, level + 1) for v in value], indent, level)
    raise TemplateError(f"json: unsupported type: {type_name(value)}")


def _join(open_: str, close: str, parts: list[str], indent: str | None, level: int) -> str:
    if indent is None:
        return open_ + ",".join(parts) + close
    inner = "\n" + indent * (level + 1)
    return open_ + inner + ("," + inner).join(parts) + "\n" + indent * level + close


def _json_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _to_json(value: Any) -> str:
    try:
        return _json_text(value)
    except (TemplateError, ValueError):
        return ""


def _from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


_B32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=")
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _must_from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TemplateError(str(exc)) from None


def _b64dec(text: str) -> str:
    bad = next((i for i, c in enumerate(text) if c not in _B64), None)
    try:
        return base64.b64decode(text.encode(), validate=True).decode("utf-8", "replace")
    except (ValueError, UnicodeEncodeError):
        return f"illegal base64 data at input byte {bad if bad is not None else len(text) - len(text) % 4}"


def _b32dec(text: str) -> str:
    bad = next((i for i, c in enumerate(text) if c not in _B32), None)
    try:
        return base64.b32decode(text.encode()).decode("utf-8", "replace")
    except (ValueError, UnicodeEncodeError):
        return f"illegal base32 data at input byte {bad if bad is not None else len(text) - len(text) % 8}"


def _regex(pattern: str) -> re.Pattern[str]:
    return compile_go(pattern)


def _regex_match(pattern: str, text: str) -> bool:
    try:
        return _regex(pattern).search(text) is not None
    except TemplateError:
        return False


def _go_finditer(compiled: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Go's successive matches: an empty match abutting the previous match is dropped."""
    found: list[re.Match[str]] = []
    previous_end = -1
    for match in compiled.finditer(text):
        if match.start() == match.end() and match.start() == previous_end:
            continue
        found.append(match)
        previous_end = match.end()
    return found


def _find_all(pattern: str, text: str, limit: int) -> StrList:
    found = [match.group(0) for match in _go_finditer(_regex(pattern), text)]
    return StrList(found if limit < 0 else found[:limit])


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    index = 0
    while index < len(template):
        dollar = template.find("$", index)
        if dollar < 0:
            out.append(template[index:])
            break
        out.append(template[index:dollar])
        rest = template[dollar + 1:]
        if rest.startswith("$"):
            out.append("$")
            index = dollar + 2
            continue
        braced = re.match(r"\{(\w+)\}", rest)
        bare = re.match(r"\w+", rest)
        found = braced or bare
        if not found:
            out.append("$")
            index = dollar + 1
            continue
        name = found.group(1) if braced else found.group(0)
        index = dollar + 1 + found.end()
        try:
            group = match.group(int(name)) if name.isdigit() else match.group(name)
        except (IndexError, re.error):
            group = ""
        out.append(group or "")
    return "".join(out)


def _substitute(pattern: str, text: str, replace: Callable[[re.Match[str]], str]) -> str:
    out, start = [], 0
    for match in _go_finditer(_regex(pattern), text):
        out.append(text[start:match.start()])
        out.append(replace(match))
        start = match.end()
    out.append(text[start:])
    return "".join(out)


def _replace_all(pattern: str, text: str, replacement: str) -> str:
    return _substitute(pattern, text, lambda match: _expand(replacement, match))


def _replace_literal(pattern: str, text: str, replacement: str) -> str:
    return _substitute(pattern, text, lambda _: replacement)


def _regex_split(pattern: str, text: str, limit: int) -> StrList:
    if limit == 0:
        return StrList()
    compiled = _regex(pattern)
    if pattern and text == "":
        return StrList([""])
    parts: list[str] = []
    begin = end = 0
    for match in _go_finditer(compiled, text):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return StrList(parts)


def _go_quote_meta(text: str) -> str:
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in text)


def _dict(*values: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    items = list(values)
    if len(items) % 2:
        items.append("")
    for index in range(0, len(items), 2):
        result[strval(items[index])] = items[index + 1]
    return result


def _get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key, "") if mapping is not None else ""


def _set(mapping: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    mapping[key] = value
    return mapping


def _unset(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    mapping.pop(key, None)
    return mapping


def _keys(*mappings: dict[str, Any]) -> StrList:
    return StrList(key for mapping in mappings if mapping for key in mapping)


def _pick(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: mapping[key] for key in keys if mapping and key in mapping}


def _omit(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in (mapping or {}).items() if key not in keys}


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise TemplateError("dig needs at least three arguments")
    mapping, default, keys = args[-1], args[-2], args[:-2]
    if not isinstance(mapping, dict):
        raise TemplateError(f"interface conversion: interface {{}} is {type_name(mapping)}, not map[string]interface {{}}")
    for position, key in enumerate(keys):
        if not isinstance(key, str):
            raise TemplateError(f"interface conversion: interface {{}} is {type_name(key)}, not string")
        if key not in mapping:
            return default
        if position == len(keys) - 1:
            return mapping[key]
        mapping = mapping[key]
        if not isinstance(mapping, dict):
            raise TemplateError(f"interface conversion: interface {{}} is {type_name(mapping)}, "
                                "not map[string]interface {}")
    return default


def _merge(destination: dict[str, Any], *sources: dict[str, Any], overwrite: bool = False) -> dict[str, Any]:
    """mergo.Merge (``overwrite``: WithOverride) as sprig calls it: nested maps merged, a value
    kept unless it is empty (or, overwriting, unless the source's is)."""
    if destination is None:
        raise TemplateError("src and dst must be of same type")
    for source in sources:
        for key, value in (source or {}).items():
            current = destination.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                _merge(current, value, overwrite=overwrite)
            elif key not in destination or _empty(current) or (overwrite and not _empty(value)):
                destination[key] = value
    return destination


def _deep_copy(value: Any) -> Any:
    if value is None:
        raise TemplateError("reflect: call of reflect.Value.Type on zero Value")
    return json.loads(json.dumps(value)) if isinstance(value, (dict, list)) else value


def _first(value: Any) -> Any:
    items = _sequence(value, "first")
    return items[0] if items else None


def _last(value: Any) -> Any:
    items = _sequence(value, "last")
    return items[-1] if items else None


def _rest(value: Any) -> Any:
    items = _sequence(value, "rest")
    return list(items[1:]) if items else None


def _initial(value: Any) -> Any:
    items = _sequence(value, "initial")
    return list(items[:-1]) if items else None


def _sequence(value: Any, name: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise TemplateError(f"Cannot find {name} on type {kind(value) if value is not None else 'invalid'}")


def _reverse(value: Any) -> list[Any]:
    return list(reversed(_sequence(value, "reverse")))


def _uniq(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in _sequence(value, "uniq"):
        if not any(_deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _compact(value: Any) -> list[Any]:
    return [item for item in _sequence(value, "compact") if not _empty(item)]


def _append(value: Any, item: Any) -> list[Any]:
    return list(_sequence(value, "append")) + [item]


def _prepend(value: Any, item: Any) -> list[Any]:
    return [item] + list(_sequence(value, "prepend"))


def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for item in lists:
        if not isinstance(item, list):
            raise TemplateError(f"Cannot concat type {kind(item)} as list")
        out.extend(item)
    return out


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(_deep_equal(needle, item) for item in _sequence(haystack, "has"))


def _without(value: Any, *omit: Any) -> list[Any]:
    return [item for item in _sequence(value, "without") if not any(_deep_equal(item, o) for o in omit)]


def _sprig_slice(value: Any, *indexes: Any) -> Any:
    items = _sequence(value, "slice")
    if not items:
        return None
    start = _to_int(indexes[0]) if indexes else 0
    end = _to_int(indexes[1]) if len(indexes) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise TemplateError(f"slice bounds out of range [{start}:{end}]")
    return list(items[start:end])


def _deep_equal(first: Any, second: Any) -> bool:
    if type_name(first) != type_name(second):
        return False
    if isinstance(first, list):
        return len(first) == len(second) and all(_deep_equal(a, b) for a, b in zip(first, second))
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(_deep_equal(first[k], second[k]) for k in first)
    return bool(first == second)


def _sort_alpha(value: Any) -> StrList:
    if isinstance(value, list):
        return StrList(sorted(_strslice(value), key=lambda s: s.encode()))
    return StrList([strval(value)])


def _default(default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if not _empty(value):
            return value
    return None


def _ternary(true_value: Any, false_value: Any, condition: bool) -> Any:
    return true_value if condition else false_value


def _kind_of(value: Any) -> str:
    if isinstance(value, Int64):
        return "int64"
    return kind(value)


def _type_of(value: Any) -> str:
    return type_name(value)


def _until(count: int) -> list[int]:
    _bounded(abs(count))
    step = 1 if count >= 0 else -1
    return list(range(0, count, step))


def _until_step(start: int, stop: int, step: int) -> list[int]:
    """sprig's untilStep: from start towards stop (excluded) by step; empty when step cannot get there."""
    if step == 0 or (step > 0 and start >= stop) or (step < 0 and start <= stop):
        return []
    _bounded(abs(stop - start) // abs(step))
    return list(range(start, stop, step))


def _seq(*params: int) -> str:
    if len(params) == 1:
        start, stop, step = 1, params[0], 1 if params[0] >= 1 else -1
    elif len(params) == 2:
        start, stop = params
        step = 1 if stop >= start else -1
    elif len(params) == 3:
        start, step, stop = params
        if step == 0 or (stop > start and step < 0) or (stop < start and step > 0):
            return ""
    else:
        return ""
    _bounded(abs(stop - start) // abs(step))
    values = list(range(start, stop + (1 if step > 0 else -1), step))
    return " ".join(str(v) for v in values)


def _wall_clock() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def _date_in_zone(layout: str, date: Any, name: str) -> str:
    moment = to_time(date, _wall_clock)
    return format_time(GoTime(moment.moment.astimezone(zone(name)), moment.nanos_extra), layout)


def _to_date(layout: str, text: str) -> GoTime:
    try:
        return parse_time(layout, text)
    except ValueError:
        return GoTime(datetime.datetime(1, 1, 1, tzinfo=UTC))


def _must_to_date(layout: str, text: str) -> GoTime:
    try:
        return parse_time(layout, text)
    except ValueError as exc:
        raise TemplateError(str(exc)) from None


def _date_modify(text: str, date: GoTime) -> GoTime:
    try:
        nanos = parse_duration(text)
    except ValueError:
        return date
    total = date.nanos_extra + nanos
    moment = date.moment + datetime.timedelta(microseconds=total // 1000)
    return GoTime(moment, total % 1000)


def _duration_seconds(value: Any) -> int:
    """sprig's duration takes an int64 or a decimal string; anything else (even an int) is 0."""
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    return 0


def _must_date_modify(text: str, date: GoTime) -> GoTime:
    parse_duration(text)  # ValueError: an error calling the function
    return _date_modify(text, date)


def _ago(date: Any) -> str:
    moment = to_time(date, _wall_clock)
    seconds = round((_wall_clock() - moment.moment).total_seconds())
    return format_duration(seconds * 10**9)


def _clean(path: str) -> str:
    """Go's ``path.Clean``."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _base(path: str) -> str:
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def _dir(path: str) -> str:
    return _clean(path[:path.rfind("/") + 1])


def _ext(path: str) -> str:
    for index in range(len(path) - 1, -1, -1):
        if path[index] == "/":
            break
        if path[index] == ".":
            return path[index:]
    return ""


def _chunk(size: int, value: Any) -> list[list[Any]]:
    items = _sequence(value, "chunk")
    if size <= 0:
        raise TemplateError("runtime error: integer divide by zero")
    count = (len(items) - 1) // size + 1 if items else 0
    return [list(items[i * size:(i + 1) * size]) for i in range(max(count, 0))]


def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def _fail(message: str) -> str:
    raise TemplateFail(message)


def _f(call: Callable[..., Any], *params: str, variadic: bool = False) -> Function:
    return Function(call, params, variadic)


SPRIG: dict[str, Function] = {
    # strings
    "trim": _f(lambda s: s.strip(GO_SPACE), "string"),
    "trimAll": _f(lambda cut, s: s.strip(cut), "string", "string"),
    "trimall": _f(lambda cut, s: s.strip(cut), "string", "string"),
    "trimPrefix": _f(lambda p, s: s[len(p):] if s.startswith(p) else s, "string", "string"),
    "trimSuffix": _f(lambda p, s: s[:-len(p)] if p and s.endswith(p) else s, "string", "string"),
    "upper": _f(lambda s: _per_rune(s, str.upper), "string"),
    "lower": _f(lambda s: _per_rune(s, str.lower), "string"),
    "title": _f(_title, "string"),
    "untitle": _f(_untitle, "string"),
    "repeat": _f(lambda n, s: _bounded(n * len(s)) and s * n if n >= 0 else _raise("strings: negative Repeat count"),
                 "int", "string"),
    "substr": _f(_substr, "int", "int", "string"),
    "nospace": _f(_nospace, "string"),
    "trunc": _f(_trunc, "int", "string"),
    "contains": _f(lambda sub, s: sub in s, "string", "string"),
    "hasPrefix": _f(lambda p, s: s.startswith(p), "string", "string"),
    "hasSuffix": _f(lambda p, s: s.endswith(p), "string", "string"),
    "quote": _f(_quote, "any", variadic=True),
    "squote": _f(_squote, "any", variadic=True),
    "cat": _f(_cat, "any", variadic=True),
    "indent": _f(_indent, "int", "string"),
    "nindent": _f(lambda n, s: "\n" + _indent(n, s), "int", "string"),
    "replace": _f(lambda old, new, s: _go_replace(s, old, new), "string", "string", "string"),
    "plural": _f(_plural, "string", "string", "int"),
    "swapcase": _f(lambda s: _per_rune(s, str.swapcase), "string"),
    # dates (Go's Local zone is UTC here)
    "now": _f(lambda: GoTime(_wall_clock())),
    "ago": _f(_ago, "any"),
    "date": _f(lambda layout, date: _date_in_zone(layout, date, "Local"), "string", "any"),
    "dateInZone": _f(_date_in_zone, "string", "any", "string"),
    "htmlDate": _f(lambda date: _date_in_zone("2006-01-02", date, "Local"), "any"),
    "htmlDateInZone": _f(lambda date, name: _date_in_zone("2006-01-02", date, name), "any", "string"),
    "toDate": _f(_to_date, "string", "string"),
    "mustToDate": _f(_must_to_date, "string", "string"),
    "unixEpoch": _f(lambda date: str(int(date.moment.timestamp())), "time"),
    "dateModify": _f(_date_modify, "string", "time"),
    "mustDateModify": _f(_must_date_modify, "string", "time"),
    "duration": _f(lambda seconds: format_duration(_wrap64(_duration_seconds(seconds) * 10**9)), "any"),
    # hashes and encodings
    "sha1sum": _f(lambda s: hashlib.sha1(s.encode()).hexdigest(), "string"),
    "sha256sum": _f(lambda s: hashlib.sha256(s.encode()).hexdigest(), "string"),
    "adler32sum": _f(lambda s: str(zlib.adler32(s.encode())), "string"),
    "b64enc": _f(lambda s: base64.b64encode(s.encode("utf-8", "surrogateescape")).decode(), "string"),
    "b64dec": _f(_b64dec, "string"),
    "b32enc": _f(lambda s: base64.b32encode(s.encode()).decode(), "string"),
    "b32dec": _f(_b32dec, "string"),
    # conversions
    "toString": _f(strval, "any"),
    "toStrings": _f(lambda v: StrList(_strslice(v)), "any"),
    "atoi": _f(lambda s: _to_int(s) if re.fullmatch(r"[+-]?\d+", s) else 0, "string"),
    "int": _f(lambda v: int(_to_int(v)), "any"),
    "int64": _f(lambda v: _wrap64(_to_int(v)), "any"),
    "float64": _f(_to_float, "any"),
    "split": _f(_split, "string", "string"),
    "splitList": _f(lambda sep, s: StrList(_go_split(s, sep)), "string", "string"),
    "splitn": _f(lambda sep, n, s: StrMap({f"_{i}": p for i, p in enumerate(_go_split(s, sep, n))}),
                 "string", "int", "string"),
    "join": _f(lambda sep, v: sep.join(_strslice(v)), "string", "any"),
    "sortAlpha": _f(_sort_alpha, "any"),
    "until": _f(_until, "int"),
    "untilStep": _f(_until_step, "int", "int", "int"),
    "hello": _f(lambda: "Hello!"),
    "seq": _f(_seq, "int", variadic=True),
    # arithmetic (int64, as sprig)
    "add1": _f(lambda v: _wrap64(_to_int(v) + 1), "any"),
    "add": _f(lambda *v: _wrap64(sum(_to_int(x) for x in v)), "any", variadic=True),
    "sub": _f(lambda a, b: _wrap64(_to_int(a) - _to_int(b)), "any", "any"),
    "mul": _f(lambda a, *v: _wrap64(_product([_to_int(a)] + [_to_int(x) for x in v])), "any", "any", variadic=True),
    "div": _f(_div, "any", "any"),
    "mod": _f(_mod, "any", "any"),
    "max": _f(lambda a, *v: _wrap64(max([_to_int(a)] + [_to_int(x) for x in v])), "any", "any", variadic=True),
    "min": _f(lambda a, *v: _wrap64(min([_to_int(a)] + [_to_int(x) for x in v])), "any", "any", variadic=True),
    "biggest": _f(lambda a, *v: _wrap64(max([_to_int(a)] + [_to_int(x) for x in v])), "any", "any", variadic=True),
    # defaults and flow
    "default": _f(_default, "any", "any", variadic=True),
    "empty": _f(_empty, "any"),
    "coalesce": _f(_coalesce, "any", variadic=True),
    "all": _f(lambda *v: all(not _empty(x) for x in v), "any", variadic=True),
    "any": _f(lambda *v: any(not _empty(x) for x in v), "any", variadic=True),
    "ternary": _f(_ternary, "any", "any", "bool"),
    "fail": _f(_fail, "string"),
    # JSON
    "toJson": _f(_to_json, "any"),
    "mustToJson": _f(_json_text, "any"),
    "toPrettyJson": _f(lambda v: _json_text(v, indent=True), "any"),
    "toRawJson": _f(lambda v: _json_text(v, escape=False), "any"),
    "fromJson": _f(_from_json, "string"),
    "mustFromJson": _f(_must_from_json, "string"),
    "mustToPrettyJson": _f(lambda v: _json_text(v, indent=True), "any"),
    "mustToRawJson": _f(lambda v: _json_text(v, escape=False), "any"),
    # regular expressions (Go RE2 patterns, through Python's re)
    "regexMatch": _f(_regex_match, "string", "string"),
    "mustRegexMatch": _f(lambda p, s: _regex(p).search(s) is not None, "string", "string"),
    "regexFindAll": _f(_find_all, "string", "string", "int"),
    "regexFind": _f(lambda p, s: (m.group(0) if (m := _regex(p).search(s)) else ""), "string", "string"),
    "regexReplaceAll": _f(_replace_all, "string", "string", "string"),
    "regexReplaceAllLiteral": _f(_replace_literal, "string", "string", "string"),
    "regexSplit": _f(_regex_split, "string", "string", "int"),
    "regexQuoteMeta": _f(_go_quote_meta, "string"),
    "mustRegexFindAll": _f(_find_all, "string", "string", "int"),
    "mustRegexFind": _f(lambda p, s: (m.group(0) if (m := _regex(p).search(s)) else ""), "string", "string"),
    "mustRegexReplaceAll": _f(_replace_all, "string", "string", "string"),
    "mustRegexReplaceAllLiteral": _f(_replace_literal, "string", "string", "string"),
    "mustRegexSplit": _f(_regex_split, "string", "string", "int"),
    # lists
    "list": _f(lambda *v: list(v), "any", variadic=True),
    "tuple": _f(lambda *v: list(v), "any", variadic=True),
    "first": _f(_first, "any"),
    "last": _f(_last, "any"),
    "rest": _f(_rest, "any"),
    "initial": _f(_initial, "any"),
    "reverse": _f(_reverse, "any"),
    "uniq": _f(_uniq, "any"),
    "compact": _f(_compact, "any"),
    "append": _f(_append, "any", "any"),
    "push": _f(_append, "any", "any"),
    "prepend": _f(_prepend, "any", "any"),
    "concat": _f(_concat, "any", variadic=True),
    "has": _f(_has, "any", "any"),
    "without": _f(_without, "any", "any", variadic=True),
    "slice": _f(_sprig_slice, "any", "any", variadic=True),
    "chunk": _f(_chunk, "int", "any"),
    "mustChunk": _f(_chunk, "int", "any"),
    "mustFirst": _f(_first, "any"),
    "mustLast": _f(_last, "any"),
    "mustRest": _f(_rest, "any"),
    "mustInitial": _f(_initial, "any"),
    "mustReverse": _f(_reverse, "any"),
    "mustUniq": _f(_uniq, "any"),
    "mustCompact": _f(_compact, "any"),
    "mustAppend": _f(_append, "any", "any"),
    "mustPrepend": _f(_prepend, "any", "any"),
    "mustHas": _f(_has, "any", "any"),
    "mustWithout": _f(_without, "any", "any", variadic=True),
    "mustSlice": _f(_sprig_slice, "any", "any", variadic=True),
    # paths (Go's path package: string operations, no file system)
    "base": _f(_base, "string"),
    "dir": _f(_dir, "string"),
    "clean": _f(_clean, "string"),
    "ext": _f(_ext, "string"),
    "isAbs": _f(lambda p: p.startswith("/"), "string"),
    # floats
    "ceil": _f(lambda v: float(math.ceil(_to_float(v))), "any"),
    "floor": _f(lambda v: float(math.floor(_to_float(v))), "any"),
    # dicts
    "values": _f(lambda m: list(m.values()) if m else [], "map"),
    "merge": _f(_merge, "map", "map", variadic=True),
    "mustMerge": _f(_merge, "map", "map", variadic=True),
    "mergeOverwrite": _f(lambda d, *s: _merge(d, *s, overwrite=True), "map", "map", variadic=True),
    "mustMergeOverwrite": _f(lambda d, *s: _merge(d, *s, overwrite=True), "map", "map", variadic=True),
    "pluck": _f(lambda key, *maps: [m[key] for m in maps if m and key in m], "string", "map", variadic=True),
    "deepCopy": _f(_deep_copy, "any"),
    "mustDeepCopy": _f(_deep_copy, "any"),
    "dict": _f(_dict, "any", variadic=True),
    "get": _f(_get, "map", "string"),
    "set": _f(_set, "map", "string", "any"),
    "unset": _f(_unset, "map", "string"),
    "hasKey": _f(lambda m, k: m is not None and k in m, "map", "string"),
    "keys": _f(_keys, "map", variadic=True),
    "pick": _f(_pick, "map", "string", variadic=True),
    "omit": _f(_omit, "map", "string", variadic=True),
    "dig": _f(_dig, "any", variadic=True),
    # reflection
    "kindOf": _f(_kind_of, "any"),
    "kindIs": _f(lambda target, v: _kind_of(v) == target, "string", "any"),
    "typeOf": _f(_type_of, "any"),
    "typeIs": _f(lambda target, v: _type_of(v) == target, "string", "any"),
    "typeIsLike": _f(lambda target, v: _type_of(v) in (target, "*" + target), "string", "any"),
    "deepEqual": _f(_deep_equal, "any", "any"),
}


#: The most elements or bytes one sprig call may build (the render's own bounds apply after).
MAX_BUILD = 1 << 20


def _bounded(size: int) -> bool:
    if size > MAX_BUILD:
        raise TemplateError(f"the result would be too large ({size} > {MAX_BUILD})")
    return True


def _raise(message: str) -> Any:
    raise TemplateError(message)


def _product(values: list[int]) -> int:
    result = 1
    for value in values:
        result = _wrap64(result * value)
    return result


def _go_replace(text: str, old: str, new: str) -> str:
    if old == "":
        if text == "":
            return new
        return new + new.join(text) + new
    return text.replace(old, new)
