"""step's own template functions (smallstep/crypto ``internal/templates``): ASN.1 helpers."""

from __future__ import annotations

import base64
import datetime

from appliance.templates.errors import TemplateError
from appliance.templates.execute import Function

_TAGS = {"printable": 0x13, "utf8": 0x0C, "ia5": 0x16, "numeric": 0x12, "bmp": 0x1E}


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _encode(value: str, kind: str) -> bytes:
    if kind in ("printable", "utf8", "ia5", "numeric"):
        return _tlv(_TAGS[kind], value.encode())
    if kind == "bmp":
        return _tlv(_TAGS[kind], value.encode("utf-16-be"))
    if kind == "int":
        number = int(value, 10)
        raw = number.to_bytes((number.bit_length() + 8) // 8 or 1, "big", signed=True)
        return _tlv(0x02, raw)
    if kind == "bool":
        return _tlv(0x01, b"\xff" if value == "true" else b"\x00")
    if kind in ("utc", "generalized"):
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(datetime.timezone.utc)
        text = moment.strftime("%y%m%d%H%M%SZ" if kind == "utc" else "%Y%m%d%H%M%SZ")
        return _tlv(0x17 if kind == "utc" else 0x18, text.encode())
    if kind == "raw":
        return base64.b64decode(value)
    raise TemplateError(f"asn1: unsupported format {kind!r}")


def asn1_enc(value: str) -> str:
    """``asn1Enc "value"`` or ``asn1Enc "int:5"``: one ASN.1 value, base64 DER (printable by default)."""
    kind, _, rest = value.partition(":")
    if not rest and kind not in _TAGS and ":" not in value:
        kind, rest = "printable", value
    try:
        return base64.b64encode(_encode(rest, kind)).decode()
    except ValueError as exc:
        raise TemplateError(f"asn1Enc: {exc}") from None


def _container(tag: int, items: tuple[str, ...]) -> str:
    try:
        body = b"".join(base64.b64decode(item, validate=True) for item in items)
    except ValueError as exc:
        raise TemplateError(f"asn1: {exc}") from None
    return base64.b64encode(_tlv(tag, body)).decode()


STEP: dict[str, Function] = {
    "asn1Enc": Function(asn1_enc, ("string",)),
    "asn1Seq": Function(lambda *items: _container(0x30, items), ("string",), variadic=True),
    "asn1Set": Function(lambda *items: _container(0x31, items), ("string",), variadic=True),
}
