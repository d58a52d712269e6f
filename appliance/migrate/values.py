"""step-ca's stored values, as its Go code serialises them: ``encoding/json`` of its
structs (``time.Time`` as RFC 3339 with nanoseconds, ``[]byte`` as standard base64),
DER certificates, SSH certificates in wire form, tokens as compact JWS."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from typing import Any

from appliance.errors import BadRequest
from appliance.jose.b64 import b64decode

UTC = datetime.timezone.utc
_GO_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class CorruptValue(BadRequest):
    """A stored value that step-ca could not have written: the migration stops, nothing imported."""

    def __init__(self, bucket: str, key: bytes, problem: str) -> None:
        super().__init__(f"step-ca's {bucket}/{key.decode(errors='replace')} cannot be read: {problem}")


def json_object(bucket: str, key: bytes, value: bytes) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError as err:
        raise CorruptValue(bucket, key, f"not JSON ({err})") from None
    if not isinstance(data, dict):
        raise CorruptValue(bucket, key, "not a JSON object")
    return data


def go_time(value: Any) -> datetime.datetime | None:
    """A Go ``time.Time`` from JSON; None for Go's zero time (unset)."""
    match = _GO_TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    base, fraction, zone = match.groups()
    parsed = datetime.datetime.fromisoformat(f"{base}.{(fraction or '0')[:6]:0<6}{'+00:00' if zone == 'Z' else zone}")
    return None if parsed.year == 1 else parsed.astimezone(UTC)


def go_bytes(value: Any) -> bytes:
    """A Go ``[]byte`` from JSON (standard base64; ``null`` is empty)."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


def token_claims(token: bytes) -> dict[str, Any]:
    """The claims of a compact JWS, unverified ({} if it is not one)."""
    parts = token.split(b".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(b64decode(parts[1].decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}
