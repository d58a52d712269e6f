"""Go's ``text/template`` builtin functions (``funcs.go``); ``call`` is refused (no Go funcs in data)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from appliance.templates.errors import TemplateError
from appliance.templates.execute import Function
from appliance.templates.gofmt import sprintf
from appliance.templates.printing import format_value
from appliance.templates.values import INVALID, kind, truth

_INCOMPATIBLE = "incompatible types for comparison"


def _basic(value: Any) -> str:
    found = kind(value)
    if found in ("bool", "int", "float64", "string"):
        return found
    if found == "invalid":
        return "invalid"
    return "other"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("missing argument for comparison")
    k1 = _basic(first)
    for other in others:
        k2 = _basic(other)
        if k1 != k2:
            if k1 != "invalid" and k2 != "invalid":
                raise TemplateError(_INCOMPATIBLE)
            continue
        if k1 == "other":
            raise TemplateError(f"non-comparable types {format_value(first)}")
        if k1 == "invalid" or first == other:
            return True
    return False


def _lt(first: Any, second: Any) -> bool:
    k1, k2 = _basic(first), _basic(second)
    if k1 in ("invalid", "other") or k2 in ("invalid", "other"):
        raise TemplateError("invalid type for comparison")
    if k1 != k2:
        raise TemplateError(_INCOMPATIBLE)
    if k1 == "bool":
        raise TemplateError("invalid type for comparison")
    return bool(first < second)


def _index_arg(index: Any, cap: int) -> int:
    if index is INVALID or index is None:
        raise TemplateError("cannot index slice/array with nil")
    if kind(index) != "int":
        raise TemplateError(f"cannot index slice/array with type {_type(index)}")
    if index < 0 or index > cap:
        raise TemplateError(f"index out of range: {index}")
    return int(index)


def _type(value: Any) -> str:
    from appliance.templates.values import type_name
    return type_name(value)


def _index(item: Any, *indexes: Any) -> Any:
    if item is INVALID or item is None:
        raise TemplateError("index of untyped nil")
    for index in indexes:
        if item is None or item is INVALID:
            raise TemplateError("index of nil pointer")
        if isinstance(item, (list, str, bytes)):
            position = _index_arg(index, len(item))
            if position == len(item):
                raise TemplateError(f"index out of range: {position}")
            item = item[position] if not isinstance(item, str) else item.encode()[position]
        elif isinstance(item, dict):
            if not isinstance(index, str):
                if index is INVALID or index is None:
                    raise TemplateError("value is nil; should be of type string")
                raise TemplateError(f"value has type {_type(index)}; should be string")
            item = item.get(index, "" if type(item).__name__ == "StrMap" else None)
        else:
            raise TemplateError(f"can't index item of type {_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is INVALID or item is None:
        raise TemplateError("slice of untyped nil")
    if len(indexes) > 3:
        raise TemplateError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise TemplateError("cannot 3-index slice a string")
        raw = item.encode()
    elif isinstance(item, list):
        raw = item  # type: ignore[assignment]
    else:
        raise TemplateError(f"can't slice item of type {_type(item)}")
    bounds = [0, len(raw)]
    for position, index in enumerate(indexes):
        value = _index_arg(index, len(raw))
        if position < 2:
            bounds[position] = value
    if bounds[0] > bounds[1]:
        raise TemplateError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > _index_arg(indexes[2], len(raw)):
        raise TemplateError(f"invalid slice index: {bounds[1]} > {indexes[2]}")
    piece = raw[bounds[0]:bounds[1]]
    if isinstance(item, str):
        return bytes(piece).decode("utf-8", "replace")
    return type(item)(piece)


def _len(item: Any) -> int:
    if item is INVALID or item is None:
        raise TemplateError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (list, dict, bytes)):
        return len(item)
    raise TemplateError(f"len of type {_type(item)}")


def _sprint(*args: Any) -> str:
    """fmt.Sprint: spaces only between operands when neither is a string."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if index and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def _println(*args: Any) -> str:
    return " ".join(format_value(arg) for arg in args) + "\n"


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _sprint(*("<no value>" if arg is None or arg is INVALID else arg for arg in args))


def _html(*args: Any) -> str:
    text = _eval_args(args)
    return (text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("\x00", "\ufffd"))


def _js(*args: Any) -> str:
    out: list[str] = []
    for char in _eval_args(args):
        if char in "\\'\"<>&=":
            out.append({"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
                        "=": "\\u003D"}[char])
        elif ord(char) < 0x20 or (ord(char) >= 0x80 and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _call(*_: Any) -> Any:
    raise TemplateError("call is not supported: the template data holds no functions")


def _not(value: Any) -> bool:
    return not truth(value)


def _printf(template: str, *args: Any) -> str:
    return sprintf(template, list(args))


BUILTINS: dict[str, Function] = {
    "and": Function(lambda *a: a[-1], ("value", "value"), variadic=True),
    "or": Function(lambda *a: a[-1], ("value", "value"), variadic=True),
    "not": Function(_not, ("value",)),
    "call": Function(_call, ("value", "value"), variadic=True),
    "eq": Function(_eq, ("value", "value"), variadic=True),
    "ne": Function(lambda a, b: not _eq(a, b), ("value", "value")),
    "lt": Function(_lt, ("value", "value")),
    "le": Function(lambda a, b: _lt(a, b) or _eq(a, b), ("value", "value")),
    "gt": Function(lambda a, b: not (_lt(a, b) or _eq(a, b)), ("value", "value")),
    "ge": Function(lambda a, b: not _lt(a, b), ("value", "value")),
    "len": Function(_len, ("value",)),
    "index": Function(_index, ("value", "value"), variadic=True),
    "slice": Function(_slice, ("value", "value"), variadic=True),
    "print": Function(_sprint, ("any",), variadic=True),
    "printf": Function(_printf, ("string", "any"), variadic=True),
    "println": Function(_println, ("any",), variadic=True),
    "html": Function(_html, ("any",), variadic=True),
    "js": Function(_js, ("any",), variadic=True),
    "urlquery": Function(_urlquery, ("any",), variadic=True),
}
