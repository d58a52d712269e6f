"""JSON from outside with a nesting limit, so that no document can exhaust the stack.

``json.loads`` recurses once per nesting level and raises ``RecursionError``
(not ``ValueError``) on a document nested a few thousand levels deep; every
parser of outside data reads JSON through :func:`loads` instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
#: A JSON string (its brackets do not nest) or one bracket.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class JsonTooDeep(ValueError):
    """The document nests arrays and objects deeper than allowed."""


def depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (no JSON validation)."""
    level = deepest = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        elif token in (b"]", b"}"):
            level -= 1
    return deepest


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``max_depth``.

    Raises ``ValueError`` (``JsonTooDeep``, ``json.JSONDecodeError`` or
    ``UnicodeDecodeError``) for anything that is not acceptable JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # no deeper than its opening brackets are many (counted in C): most documents need no scan
    if raw.count(b"[") + raw.count(b"{") > max_depth and depth(raw) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(raw)
