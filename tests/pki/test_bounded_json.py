"""JSON from outside: a nesting limit instead of a RecursionError."""

from __future__ import annotations

import pytest

from appliance.pki.bounded_json import MAX_DEPTH, JsonTooDeep, depth, loads


def test_ordinary_documents_load() -> None:
    assert loads(b'{"a": [1, {"b": "]]}{["}], "c": "\\"["}') == {"a": [1, {"b": "]]}{["}], "c": '"['}
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) == eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)


def test_brackets_inside_strings_do_not_count() -> None:
    assert depth(b'["[[[[", "\\\\", {"k": "{{{"}]') == 2


@pytest.mark.parametrize("document", [
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b"[" * 100000,  # unterminated: still refused for depth, never parsed
])
def test_deep_documents_are_a_value_error(document: bytes) -> None:
    with pytest.raises(JsonTooDeep, match="nested deeper than"):
        loads(document)
    assert issubclass(JsonTooDeep, ValueError)  # callers that catch ValueError need no change


@pytest.mark.parametrize("document", [b"", b"{", b'"unterminated', b"\xff\xfe", b"1" * 5000, "\udc80"])
def test_malformed_documents_are_a_value_error(document: bytes | str) -> None:
    with pytest.raises(ValueError):
        loads(document)
