"""Hypothesis strategies for hostile input, and compact/flattened JWS signed with
real keys over arbitrary bytes (so that a malformed header or payload still
carries a signature that verifies, and reaches the checks behind it)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import strategies as st

from appliance.jose.jwk import JWK


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def es256(key: JWK, signing_input: bytes) -> bytes:
    """The raw r||s ES256 signature of ``signing_input`` by the (P-256) JWK."""
    private = key.get_op_key("sign")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def encode(part: Any) -> bytes:
    """A header or payload: raw bytes as they are, anything else as JSON."""
    return part if isinstance(part, bytes) else json.dumps(part).encode()


def compact(header: Any, claims: Any, key: JWK) -> str:
    """A compact JWS whose signature by ``key`` verifies, whatever the header and claims are."""
    signing_input = f"{b64(encode(header))}.{b64(encode(claims))}"
    return f"{signing_input}.{b64(es256(key, signing_input.encode()))}"


def flattened(protected: Any, payload: Any, key: JWK) -> dict[str, str]:
    """A flattened JSON JWS signed by ``key`` (``payload`` b"" is POST-as-GET)."""
    protected_b64, payload_b64 = b64(encode(protected)), b64(encode(payload))
    return {"protected": protected_b64, "payload": payload_b64,
            "signature": b64(es256(key, f"{protected_b64}.{payload_b64}".encode()))}


NASTY_TEXT = st.sampled_from([
    "", " ", "é" * 64, "\u202e\u0000\ud7ff", "\n", "99999999999h", "9" * 400 + "h", "-99999999999h", "0x" + "f" * 5000,
    "1" * 5000, "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "NaN", "1e400", "a" * 20000, "../../etc/passwd",
    "٣٣", "1_000", "*.example.test", "xn--", "127.0.0.1", "::1", "%00", "{{ .Token }}",
])
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**40), max_value=10**40)
           | st.floats(allow_nan=True, allow_infinity=False) | st.text(max_size=30) | NASTY_TEXT)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def raw_documents(draw: st.DrawFn) -> bytes:
    """Bytes that are not acceptable JSON objects: deep nesting, truncation, bad UTF-8, non-objects."""
    depth = draw(st.sampled_from([33, 200, 1000, 5000, 30000]))
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return b"[" * depth + b"]" * depth
    if choice == 1:
        return b'{"a":' * depth + b"1" + b"}" * depth
    if choice == 2:
        return b"[" * depth
    if choice == 3:
        return draw(st.binary(max_size=40))
    if choice == 4:
        return json.dumps(draw(JSON_VALUES)).encode()[: draw(st.integers(0, 20))]
    return b"\xff\xfe" + draw(st.binary(max_size=8))


def mutate(base: dict[str, Any], draw: st.DrawFn, *, names: tuple[str, ...]) -> dict[str, Any]:
    """``base`` with some members replaced by hostile values, dropped or added."""
    result = dict(base)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(names) | st.text(max_size=8))
        action = draw(st.integers(0, 2))
        if action == 0:
            result.pop(name, None)
        else:
            result[name] = draw(JSON_VALUES)
    return result
