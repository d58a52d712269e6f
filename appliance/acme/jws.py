"""Flattened JSON JWS of ACME requests (RFC 8555 section 6.2): parse, then verify.

Signatures are checked by ``appliance.jose`` (the same code as token checks);
the nonce is consumed only after the signature and the ``url`` were accepted,
so a forged request cannot burn a client's nonce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.acme.problems import AcmeError, Problem
from appliance.pki.keys import check_public_key
from appliance.errors import Forbidden
from appliance.jose import SIGNATURE_ALGORITHMS, InvalidKey, InvalidToken, UnverifiedToken, key_from_dict
from appliance.jose.b64 import b64decode
from appliance.jose.jwk import JWK
from appliance.pki import bounded_json

MAX_JWS_BYTES = 64 * 1024


def _malformed(detail: str) -> AcmeError:
    return AcmeError(Problem.MALFORMED, detail)


def _decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _malformed(f"JWS {what} must be a base64url string")
    try:
        return b64decode(value)
    except ValueError:
        raise _malformed(f"JWS {what} is not base64url") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = bounded_json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _malformed(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise _malformed(f"{what} must be a JSON object")
    return value


def account_key(members: Any) -> JWK:
    """A public JWK acceptable as an account (or certificate) key; ``badPublicKey`` otherwise."""
    if isinstance(members, dict) and any(k in members for k in ("d", "p", "q", "k")):
        raise AcmeError(Problem.BAD_PUBLIC_KEY, "the JWK must be a public key")
    try:
        key = key_from_dict(members)
        check_public_key(key.get_op_key("verify"))
    except (InvalidKey, Forbidden) as exc:
        raise AcmeError(Problem.BAD_PUBLIC_KEY, exc.message) from None
    except (TypeError, ValueError):
        raise AcmeError(Problem.BAD_PUBLIC_KEY, "the JWK is not a usable public key") from None
    return key


@dataclass(frozen=True)
class FlattenedJws:
    """A parsed request JWS whose signature has not been checked yet."""

    protected: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, body: bytes | dict[str, Any], *, what: str = "request") -> FlattenedJws:
        """Parse the flattened JSON serialization (no unprotected header, one signature)."""
        if isinstance(body, bytes):
            if len(body) > MAX_JWS_BYTES:
                raise _malformed(f"{what} is larger than {MAX_JWS_BYTES} bytes")
            body = _json_object(body, what)
        if not isinstance(body, dict):
            raise _malformed(f"{what} must be a flattened JWS object")
        if "signatures" in body or "header" in body:
            raise _malformed(f"{what} must be a flattened JWS with a protected header only")
        protected_b64, payload_b64 = body.get("protected"), body.get("payload")
        protected = _json_object(_decode(protected_b64, "protected header"), "JWS protected header")
        payload = _decode(payload_b64, "payload")
        signature = _decode(body.get("signature"), "signature")
        if "crit" in protected:
            raise _malformed("JWS 'crit' header parameters are not supported")
        return cls(protected, payload, f"{protected_b64}.{payload_b64}".encode("ascii"), signature)

    def algorithm(self) -> str:
        """The ``alg`` header, if it is a signature algorithm we accept."""
        alg = self.protected.get("alg")
        if not isinstance(alg, str) or alg not in SIGNATURE_ALGORITHMS:
            raise AcmeError(Problem.BAD_SIGNATURE_ALGORITHM,
                            f"JWS algorithm must be one of {', '.join(sorted(SIGNATURE_ALGORITHMS))}")
        return alg

    def string_header(self, name: str) -> str | None:
        value = self.protected.get(name)
        if value is not None and not isinstance(value, str):
            raise _malformed(f"JWS header '{name}' must be a string")
        return value

    def verify(self, key: JWK) -> None:
        """Check the algorithm, then the signature with ``key``; ``malformed`` if it does not verify."""
        self.algorithm()
        token = UnverifiedToken(header=self.protected, claims={}, signing_input=self.signing_input,
                                signature=self.signature)
        try:
            token.verify(key)
        except InvalidToken:
            raise _malformed("JWS signature does not verify") from None

    def payload_json(self) -> dict[str, Any] | None:
        """The payload object, or None for POST-as-GET (an empty payload)."""
        return None if self.payload == b"" else _json_object(self.payload, "JWS payload")
