"""XEdDSA (Signal's specification): Ed25519 signatures made and checked with X25519
keys, as step signs Nebula tokens (JWS ``alg`` ``XEdDSA``).

Verification converts the Montgomery ``u`` to the Edwards ``y`` with sign bit 0
and is then plain Ed25519 (``cryptography``). Signing needs the private scalar's
Edwards point, computed here with RFC 8032's arithmetic (client side only).
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, P) % P
_BY = 4 * pow(5, -1, P) % P
_BX_SQUARED = (_BY * _BY - 1) * pow(_D * _BY * _BY + 1, -1, P) % P
_BX = pow(_BX_SQUARED, (P + 3) // 8, P)
if (_BX * _BX - _BX_SQUARED) % P:
    _BX = _BX * pow(2, (P - 1) // 4, P) % P
if _BX % 2:
    _BX = P - _BX
_BASE = (_BX, _BY, 1, _BX * _BY % P)
_PREFIX = b"\xfe" + b"\xff" * 31


def _add(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Extended twisted Edwards addition (RFC 8032, section 5.1.4)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1, e2 = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, d = 2 * t1 * t2 * _D % P, 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(scalar: int) -> tuple[int, int, int, int]:
    result, point = (0, 1, 1, 0), _BASE
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point, scalar = _add(point, point), scalar >> 1
    return result


def _encode(point: tuple[int, int, int, int]) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, -1, P)
    x, y = x * inverse % P, y * inverse % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def edwards_public_key(u: bytes) -> bytes:
    """The Ed25519 public key (sign bit 0) of an X25519 public key."""
    if len(u) != 32:
        raise ValueError("an X25519 public key is 32 bytes")
    value = int.from_bytes(u, "little") % (2**255) % P
    y = (value - 1) * pow(value + 1, -1, P) % P
    return y.to_bytes(32, "little")


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """xeddsa_verify with an X25519 public key."""
    if len(signature) != 64 or signature[63] & 0xE0:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(edwards_public_key(public_key)).verify(signature, message)
    except (InvalidSignature, ValueError, ZeroDivisionError):
        return False
    return True


def sign(private_key: bytes, message: bytes) -> bytes:
    """xeddsa_sign with an X25519 private key (32 bytes)."""
    if len(private_key) != 32:
        raise ValueError("an X25519 private key is 32 bytes")
    clamped = bytearray(private_key)
    clamped[0] &= 248
    clamped[31] = (clamped[31] & 127) | 64
    k = int.from_bytes(clamped, "little") % Q
    public = bytearray(_encode(_multiply(k)))
    a = (Q - k) % Q if public[31] & 0x80 else k
    public[31] &= 0x7F
    r = int.from_bytes(hashlib.sha512(_PREFIX + a.to_bytes(32, "little") + message + os.urandom(64)).digest(),
                       "little") % Q
    encoded_r = _encode(_multiply(r))
    h = int.from_bytes(hashlib.sha512(encoded_r + bytes(public) + message).digest(), "little") % Q
    return encoded_r + ((r + h * a) % Q).to_bytes(32, "little")
