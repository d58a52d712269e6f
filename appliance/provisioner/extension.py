"""step-ca's provisioner extension (OID 1.3.6.1.4.1.37476.9000.64.1).

DER, as step-ca's ``extensionASN1`` marshals it::

    SEQUENCE { type INTEGER, name OCTET STRING, credentialID OCTET STRING,
               keyValuePairs SEQUENCE OF UTF8String OPTIONAL (omitted when empty) }
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from appliance.errors import BadRequest

PROVISIONER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")

_INTEGER, _OCTET_STRING, _UTF8_STRING, _PRINTABLE_STRING, _SEQUENCE = 0x02, 0x04, 0x0C, 0x13, 0x30


def _tlv(tag: int, value: bytes) -> bytes:
    length = len(value)
    if length < 0x80:
        return bytes([tag, length]) + value
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + value


def _integer(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One TLV at ``offset``: tag, value, offset after it."""
    if offset + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated")
    return tag, data[offset:offset + length], offset + length


@dataclass(frozen=True)
class ProvisionerExtension:
    """Who authorised a certificate: provisioner type code, name and credential."""

    type: int
    name: str
    credential_id: str
    key_value_pairs: tuple[str, ...] = ()

    def to_der(self) -> bytes:
        body = _integer(self.type) + _tlv(_OCTET_STRING, self.name.encode()) + _tlv(_OCTET_STRING, self.credential_id.encode())
        if self.key_value_pairs:
            body += _tlv(_SEQUENCE, b"".join(_tlv(_UTF8_STRING, kv.encode()) for kv in self.key_value_pairs))
        return _tlv(_SEQUENCE, body)

    def to_extension(self) -> x509.UnrecognizedExtension:
        return x509.UnrecognizedExtension(PROVISIONER_OID, self.to_der())

    @classmethod
    def from_der(cls, data: bytes) -> ProvisionerExtension:
        """Decode the extension value; ``BadRequest`` if it is not step-ca's encoding."""
        try:
            tag, body, end = _read(data, 0)
            if tag != _SEQUENCE or end != len(data):
                raise ValueError("not a sequence")
            fields: list[tuple[int, bytes]] = []
            offset = 0
            while offset < len(body):
                tag, value, offset = _read(body, offset)
                fields.append((tag, value))
            if [t for t, _ in fields[:3]] != [_INTEGER, _OCTET_STRING, _OCTET_STRING] or len(fields) > 4:
                raise ValueError("unexpected fields")
            pairs: list[str] = []
            if len(fields) == 4:
                tag, seq = fields[3]
                offset = 0
                while offset < len(seq):
                    item_tag, item, offset = _read(seq, offset)
                    if item_tag not in (_UTF8_STRING, _PRINTABLE_STRING):
                        raise ValueError("key-value pair is not a string")
                    pairs.append(item.decode())
            return cls(int.from_bytes(fields[0][1], "big", signed=True), fields[1][1].decode(),
                       fields[2][1].decode(), tuple(pairs))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed provisioner extension: {exc}") from None

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> ProvisionerExtension | None:
        try:
            ext = certificate.extensions.get_extension_for_oid(PROVISIONER_OID)
        except x509.ExtensionNotFound:
            return None
        value = ext.value
        if not isinstance(value, x509.UnrecognizedExtension):
            return None
        return cls.from_der(value.value)
