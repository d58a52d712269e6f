"""Nebula certificates (v1, as ``nebula-cert`` 1.x writes them): the protobuf
``RawNebulaCertificate {Details = 1; Signature = 2}`` and its verification against
CA certificates, as Nebula's ``cert.Verify`` does."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import ipaddress
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import BadRequest, Unauthorized

_PEM = re.compile(rb"-----BEGIN NEBULA CERTIFICATE-----\s*(.*?)\s*-----END NEBULA CERTIFICATE-----", re.S)


class MalformedCertificate(ValueError):
    """The bytes are not a Nebula certificate."""


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise MalformedCertificate("truncated varint")
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        if not byte & 0x80:
            return value, offset
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, varint or bytes) of a protobuf message."""
    fields: list[tuple[int, int | bytes]] = []
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, offset = _varint(data, offset)
            fields.append((number, value))
        elif wire == 2:
            length, offset = _varint(data, offset)
            if offset + length > len(data):
                raise MalformedCertificate("truncated field")
            fields.append((number, data[offset:offset + length]))
            offset += length
        else:
            raise MalformedCertificate(f"unexpected wire type {wire}")
    return fields


def _uint32s(value: int | bytes) -> list[int]:
    if isinstance(value, int):
        return [value]
    numbers, offset = [], 0
    while offset < len(value):
        number, offset = _varint(value, offset)
        numbers.append(number)
    return numbers


def _networks(values: list[int]) -> list[ipaddress.IPv4Interface]:
    if len(values) % 2:
        raise MalformedCertificate("odd number of address values")
    return [ipaddress.IPv4Interface((ip, str(ipaddress.IPv4Address(mask))))
            for ip, mask in zip(values[::2], values[1::2])]


@dataclass(frozen=True)
class NebulaCertificate:
    """The fields of a Nebula certificate that a CA checks."""

    raw: bytes
    details: bytes
    signature: bytes
    name: str
    ips: tuple[ipaddress.IPv4Interface, ...]
    subnets: tuple[ipaddress.IPv4Interface, ...]
    groups: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    public_key: bytes
    is_ca: bool
    issuer: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @classmethod
    def from_bytes(cls, raw: bytes) -> NebulaCertificate:
        try:
            outer = dict(_fields(raw))
            details, signature = outer.get(1), outer.get(2)
            if not isinstance(details, bytes) or not isinstance(signature, bytes):
                raise MalformedCertificate("no details or signature")
            name, groups, ips, subnets = "", [], [], []
            values: dict[int, int | bytes] = {}
            for number, value in _fields(details):
                if number == 1 and isinstance(value, bytes):
                    name = value.decode()
                elif number == 2:
                    ips += _uint32s(value)
                elif number == 3:
                    subnets += _uint32s(value)
                elif number == 4 and isinstance(value, bytes):
                    groups.append(value.decode())
                else:
                    values[number] = value
            times = [values.get(5, 0), values.get(6, 0)]
            if not all(isinstance(t, int) for t in times) or not isinstance(values.get(7), bytes):
                raise MalformedCertificate("no validity or public key")
            issuer = values.get(9, b"")
            return cls(raw=raw, details=details, signature=signature, name=name, ips=tuple(_networks(ips)),
                       subnets=tuple(_networks(subnets)), groups=tuple(groups),
                       not_before=datetime.datetime.fromtimestamp(int(times[0]), datetime.timezone.utc),
                       not_after=datetime.datetime.fromtimestamp(int(times[1]), datetime.timezone.utc),
                       public_key=bytes(values[7]), is_ca=bool(values.get(8, 0)),
                       issuer=issuer.hex() if isinstance(issuer, bytes) else "")
        except (UnicodeDecodeError, ValueError, OverflowError, OSError) as exc:
            raise MalformedCertificate(str(exc)) from None

    def expired(self, now: datetime.datetime) -> bool:
        return not self.not_before <= now <= self.not_after


def load_ca_pool(value: object, where: str) -> dict[str, NebulaCertificate]:
    """CA certificates by fingerprint from a ca.json ``roots`` (base64 of PEM, or PEM)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where}: 'roots' must hold the PEM of the Nebula CA certificates")
    try:
        pem = value.encode() if value.lstrip().startswith("-----BEGIN") else base64.b64decode(value, validate=True)
        pool = {c.fingerprint: c for c in (NebulaCertificate.from_bytes(base64.b64decode(m)) for m in _PEM.findall(pem))}
    except (ValueError, binascii.Error):
        raise BadRequest(f"{where}: 'roots' is not a PEM bundle of Nebula certificates") from None
    if not pool or not all(c.is_ca for c in pool.values()):
        raise BadRequest(f"{where}: 'roots' must hold Nebula CA certificates")
    return pool


def verify(certificate: NebulaCertificate, pool: dict[str, NebulaCertificate], now: datetime.datetime) -> None:
    """Nebula's checks: a known, current CA signed it, within the CA's validity, groups,
    IPs and subnets."""
    ca = pool.get(certificate.issuer)
    if ca is None:
        raise Unauthorized("nebula certificate was not issued by a CA of the provisioner")
    if ca.expired(now):
        raise Unauthorized("nebula CA certificate is expired")
    if certificate.expired(now):
        raise Unauthorized("nebula certificate is expired")
    try:
        Ed25519PublicKey.from_public_bytes(ca.public_key).verify(certificate.signature, certificate.details)
    except (InvalidSignature, ValueError):
        raise Unauthorized("nebula certificate signature does not match its CA") from None
    if certificate.not_after > ca.not_after or certificate.not_before < ca.not_before:
        raise Unauthorized("nebula certificate is valid outside its CA's validity")
    if ca.groups and not set(certificate.groups) <= set(ca.groups):
        raise Unauthorized("nebula certificate has groups its CA does not allow")
    for own, allowed in ((certificate.ips, ca.ips), (certificate.subnets, ca.subnets)):
        if allowed and not all(any(n.network.subnet_of(a.network) for a in allowed) for n in own):
            raise Unauthorized("nebula certificate has addresses outside its CA's networks")
