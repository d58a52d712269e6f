"""Certificate serial numbers as clients send them (step-ca's decimal form, or 0x-hex)."""

from __future__ import annotations

import re

from appliance.errors import BadRequest

_FORM = re.compile(r"0x[0-9a-f]+|-?[0-9]+")

#: RFC 5280 section 4.1.2.2: serials are at most 20 octets.
MAX_SERIAL = 2 ** (20 * 8) - 1
#: Longer text than any 20-octet serial needs (49 decimal digits) is refused before parsing.
MAX_TEXT = 64


def parse_serial(serial: str) -> str:
    """A positive serial of at most 20 octets, as decimal; ``BadRequest`` otherwise."""
    text = serial.strip().lower() if isinstance(serial, str) else ""
    if len(text) > MAX_TEXT:
        raise BadRequest(f"serial is longer than {MAX_TEXT} characters (serials have at most 20 octets)")
    if not _FORM.fullmatch(text):  # ASCII digits only: int() would take "1_000", "+5" and other scripts' digits
        raise BadRequest("serial must be a decimal number (or 0x-prefixed hex)")
    value = int(text[2:], 16) if text.startswith("0x") else int(text, 10)
    if value <= 0:
        raise BadRequest("serial must be positive")
    if value > MAX_SERIAL:
        raise BadRequest("serial is larger than 20 octets")
    return str(value)
