"""Serials from clients: decimal or 0x-hex, positive, at most 20 octets, bounded text."""

from __future__ import annotations

import pytest

from appliance.errors import BadRequest
from appliance.pki.serial import MAX_SERIAL, parse_serial


@pytest.mark.parametrize(("text", "expected"), [
    ("123", "123"), (" 0x1F ", "31"), ("0X10", "16"), (str(MAX_SERIAL), str(MAX_SERIAL)), (hex(MAX_SERIAL), str(MAX_SERIAL)),
])
def test_parse_serial(text: str, expected: str) -> None:
    assert parse_serial(text) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("0x" + "f" * 5000, "longer than 64"), ("1" * 5000, "longer than 64"), (hex(MAX_SERIAL + 1), "larger than 20 octets"),
    ("0", "positive"), ("-5", "positive"), ("12a", "decimal number"), ("", "decimal number"), ("٣", "decimal number"), ("1_000", "decimal number"),
])
def test_parse_serial_refuses(text: str, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        parse_serial(text)
