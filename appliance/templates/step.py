"""step's own template functions (smallstep/crypto ``internal/templates``): the ASN.1 helpers,
with the encodings of Go's ``encoding/asn1.MarshalWithParams``."""

from __future__ import annotations

import base64
import binascii
import string
from typing import Any

from appliance.templates.errors import TemplateError
from appliance.templates.execute import Function

_PRINTABLE = frozenset(string.ascii_letters + string.digits + " '()+,-./:=?")
_STRING_TAGS = {"printable": 0x13, "utf8": 0x0C, "ia5": 0x16, "numeric": 0x12}


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _string(value: str, params: list[str]) -> bytes:
    kind = next((p for p in params if p in _STRING_TAGS), "")
    if kind == "printable" and not set(value) <= _PRINTABLE:
        raise TemplateError("asn1: structure error: PrintableString contains invalid character")
    if kind == "ia5" and not value.isascii():
        raise TemplateError("asn1: structure error: IA5String contains invalid character")
    if kind == "numeric" and not set(value) <= set("0123456789 "):
        raise TemplateError("asn1: structure error: NumericString contains invalid character")
    if not kind:
        kind = "printable" if set(value) <= _PRINTABLE else "utf8"
    return _tlv(_STRING_TAGS[kind], value.encode())


def _marshal(value: Any, params: list[str]) -> bytes:
    if isinstance(value, bool):
        return _tlv(0x01, b"\xff" if value else b"\x00")
    if isinstance(value, int):
        return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))
    if isinstance(value, str):
        return _string(value, params)
    raise TemplateError(f"asn1: structure error: unknown Go type: {type(value).__name__}")


def asn1_marshal(value: Any, *params: str) -> str:
    """``asn1Marshal v "utf8"``: the DER of a string, integer or boolean, in base64."""
    flat = [p.strip() for joined in params for p in joined.split(",") if p.strip()]
    return base64.b64encode(_marshal(value, flat)).decode()


def asn1_enc(value: str) -> str:
    """``asn1Enc "utf8:value"``: a string with its ASN.1 type (printable when no ``type:``)."""
    params, _, rest = value.partition(":")
    if not _:
        params, rest = "printable", value
    return asn1_marshal(rest, params)


def _container(tag: int, items: tuple[str, ...]) -> str:
    try:
        body = b"".join(base64.b64decode(item, validate=True) for item in items)
    except (binascii.Error, ValueError) as exc:
        raise TemplateError(f"asn1: {exc}") from None
    return base64.b64encode(_tlv(tag, body)).decode()


STEP: dict[str, Function] = {
    "asn1Enc": Function(asn1_enc, ("string",)),
    "asn1Marshal": Function(asn1_marshal, ("any", "string"), variadic=True),
    "asn1Seq": Function(lambda *items: _container(0x30, items), ("string",), variadic=True),
    "asn1Set": Function(lambda *items: _container(0x31, items), ("string",), variadic=True),
}
