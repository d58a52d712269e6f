"""Compact JWS tokens: sign, parse without trusting, then verify with a chosen key.

Signing uses jwcrypto; verification (the CA's hot path) is RFC 7518 on
``cryptography`` directly, against public keys prepared once per provisioner.
A token is parsed once (:class:`UnverifiedToken`) so that the CA can pick the
key that must have signed it (by ``iss``/``kid`` or the ``x5c`` header) and
only then verify; claims are never used before :meth:`UnverifiedToken.verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from jwcrypto import jws as jwcrypto_jws

from appliance.jose import xeddsa
from appliance.jose.b64 import b64decode, b64encode
from appliance.jose.errors import InvalidToken
from appliance.jose.jwk import JWK, algorithm_for
from appliance.pki import bounded_json

#: The signature algorithms accepted in tokens (never ``none`` or HMAC).
SIGNATURE_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
MAX_TOKEN_LENGTH = 64 * 1024
#: Parsed only when asked (``allow_special``), each verified only by its own method: step's
#: AWS tokens are HS256 over the instance identity signature (:meth:`UnverifiedToken.verify_hmac`),
#: its Nebula tokens XEdDSA by the host's X25519 key (:meth:`UnverifiedToken.verify_xeddsa`).
HMAC_ALGORITHMS = frozenset({"HS256"})
XEDDSA = "XEdDSA"
SPECIAL_ALGORITHMS = HMAC_ALGORITHMS | {XEDDSA}


def sign(claims: dict[str, Any], key: JWK, *, alg: str | None = None,
         headers: dict[str, Any] | None = None) -> str:
    """A compact JWS of ``claims`` signed by ``key`` (``kid`` from the key if it has one)."""
    algorithm = alg or algorithm_for(key)
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise InvalidToken(f"unsupported signature algorithm '{algorithm}'")
    protected: dict[str, Any] = {"alg": algorithm, "typ": "JWT"}
    if key.get("kid"):
        protected["kid"] = key.get("kid")
    protected.update(headers or {})
    token = jwcrypto_jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    token.allowed_algs = sorted(SIGNATURE_ALGORITHMS)
    token.add_signature(key, alg=algorithm, protected=json.dumps(protected, separators=(",", ":")))
    return token.serialize(compact=True)


def _compact(protected: dict[str, Any], claims: dict[str, Any], sign_input: Callable[[bytes], bytes]) -> str:
    header = b64encode(json.dumps(protected, separators=(",", ":")).encode())
    payload = b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{b64encode(sign_input(f'{header}.{payload}'.encode('ascii')))}"


def sign_hmac(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 compact JWS of ``claims`` (step's AWS identity tokens)."""
    return _compact({"alg": "HS256", "typ": "JWT"}, claims,
                    lambda data: hmac.new(secret, data, hashlib.sha256).digest())


def sign_xeddsa(claims: dict[str, Any], x25519_private_key: bytes, headers: dict[str, Any]) -> str:
    """An XEdDSA compact JWS of ``claims`` (step's Nebula tokens)."""
    return _compact({"alg": XEDDSA, "typ": "JWT", **headers}, claims,
                    lambda data: xeddsa.sign(x25519_private_key, data))


def sign_with_key(claims: dict[str, Any], key: PrivateKeyTypes, *, headers: dict[str, Any] | None = None) -> str:
    """A compact JWS of ``claims`` made with ``key``'s ``sign`` alone, so a key in a KMS or HSM
    (a KMS signer) signs it: ES256/ES384/ES512 by the curve, or EdDSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = next((alg for alg, curve in _CURVES.items() if curve == key.curve.name), "")
        if not algorithm:
            raise InvalidToken(f"no JWS algorithm for the curve {key.curve.name}")
        size = (key.curve.key_size + 7) // 8
        hash_alg = _HASHES[algorithm[2:]]()

        def sign_input(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_alg)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm, sign_input = "EdDSA", key.sign
    else:
        raise InvalidToken("the key cannot sign tokens (ECDSA or Ed25519)")
    return _compact({"alg": algorithm, "typ": "JWT", **(headers or {})}, claims, sign_input)


PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


def verification_key(key: JWK | PublicKey) -> PublicKey:
    """The ``cryptography`` public key of a JWK (do this once per key, not per token)."""
    if isinstance(key, JWK):
        public = key.get_op_key("verify")
        public = public.public_key() if hasattr(public, "public_key") else public
    else:
        public = key
    if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise InvalidToken("the key cannot verify token signatures")
    return public


def _verify_signature(alg: str, key: PublicKey, signature: bytes, signing_input: bytes) -> None:
    """RFC 7518 section 3 (and RFC 8037 for EdDSA); ``InvalidSignature`` if it fails."""
    if alg == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InvalidSignature
        key.verify(signature, signing_input)
        return
    hash_alg = _HASHES[alg[2:]]()
    if alg.startswith("ES"):
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _CURVES[alg]:
            raise InvalidSignature
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise InvalidSignature
        der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
        key.verify(der, signing_input, ec.ECDSA(hash_alg))
        return
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidSignature
    pad = (padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
           if alg.startswith("PS") else padding.PKCS1v15())
    key.verify(signature, signing_input, pad, hash_alg)


def _decode_json(part: str) -> Any:
    return bounded_json.loads(b64decode(part))


@dataclass(frozen=True)
class UnverifiedToken:
    """A parsed compact JWS whose signature has not been checked yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @classmethod
    def parse(cls, token: str, *, allow_special: bool = False) -> UnverifiedToken:
        """Parse a compact JWS with a JSON object payload; ``InvalidToken`` if malformed.
        ``allow_special`` admits HS256 and XEdDSA tokens, which only their own methods verify."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed token: empty or too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token: not a compact JWS")
        try:
            header, claims, signature = _decode_json(parts[0]), _decode_json(parts[1]), b64decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise InvalidToken("malformed token: cannot decode the JWS") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("malformed token: header and payload must be JSON objects")
        alg = header.get("alg")
        if not isinstance(alg, str) or (alg not in SIGNATURE_ALGORITHMS
                                        and not (allow_special and alg in SPECIAL_ALGORITHMS)):
            raise InvalidToken(f"token algorithm must be one of {', '.join(sorted(SIGNATURE_ALGORITHMS))}")
        if "crit" in header:
            raise InvalidToken("token has critical header parameters that are not understood")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        return cls(header=header, claims=claims, signing_input=signing_input, signature=signature)

    @property
    def algorithm(self) -> str:
        return str(self.header["alg"])

    def verify(self, key: JWK | PublicKey) -> dict[str, Any]:
        """Check the signature with ``key``; the (now trusted) claims."""
        if self.algorithm in SPECIAL_ALGORITHMS:
            raise InvalidToken(f"token signature does not verify ({self.algorithm} where a key signature is needed)")
        try:
            _verify_signature(self.algorithm, verification_key(key), self.signature, self.signing_input)
        except (InvalidSignature, ValueError):
            raise InvalidToken("token signature does not verify") from None
        return self.claims

    def verify_hmac(self, secret: bytes) -> dict[str, Any]:
        """Check an HS256 signature made with ``secret``; the claims."""
        if self.algorithm not in HMAC_ALGORITHMS or not secret:
            raise InvalidToken("token signature does not verify")
        expected = hmac.new(secret, self.signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, self.signature):
            raise InvalidToken("token signature does not verify")
        return self.claims

    def verify_xeddsa(self, x25519_public_key: bytes) -> dict[str, Any]:
        """Check an XEdDSA signature by an X25519 key; the claims."""
        if self.algorithm != XEDDSA or not xeddsa.verify(x25519_public_key, self.signature, self.signing_input):
            raise InvalidToken("token signature does not verify")
        return self.claims
