"""RFC 4043 permanent identifiers: the ``otherName`` SAN (id-on-permanentIdentifier) that
names a device by its serial number in the certificates device-attest-01 orders get.

``PermanentIdentifier ::= SEQUENCE { identifierValue UTF8String OPTIONAL, assigner OBJECT IDENTIFIER OPTIONAL }``
"""

from __future__ import annotations

from cryptography import x509

PERMANENT_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.3")


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def permanent_identifier(value: str) -> x509.OtherName:
    """The SAN for ``value`` (identifierValue only, as step-ca writes it)."""
    return x509.OtherName(PERMANENT_IDENTIFIER_OID, _der(0x30, _der(0x0C, value.encode())))


def _read(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """One DER element of ``tag``: its body and what follows it."""
    if len(data) < 2 or data[0] != tag:
        raise ValueError("unexpected DER element")
    size, start = data[1], 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise ValueError("bad DER length")
        size, start = int.from_bytes(data[2:2 + count], "big"), 2 + count
    if len(data) < start + size:
        raise ValueError("truncated DER element")
    return data[start:start + size], data[start + size:]


def permanent_identifiers(san: x509.SubjectAlternativeName) -> list[str]:
    """The identifierValues of the permanent identifiers in a SAN extension (malformed ones skipped)."""
    found = []
    for name in san.get_values_for_type(x509.OtherName):
        if name.type_id != PERMANENT_IDENTIFIER_OID:
            continue
        try:
            body, _ = _read(name.value, 0x30)
            value, _ = _read(body, 0x0C)
            found.append(value.decode())
        except (ValueError, UnicodeDecodeError):
            continue
    return found
