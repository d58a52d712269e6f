"""Compact JWS tokens: sign, parse without trusting, then verify with a chosen key.

A token is parsed once (:class:`UnverifiedToken`) so that the CA can pick the
key that must have signed it (by ``iss``/``kid`` or the ``x5c`` header) and
only then verify; claims are never used before :meth:`UnverifiedToken.verify`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jwcrypto import jws as jwcrypto_jws
from jwcrypto.common import JWException

from appliance.jose.errors import InvalidToken
from appliance.jose.jwk import JWK, algorithm_for

#: The signature algorithms accepted in tokens (never ``none`` or HMAC).
SIGNATURE_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
MAX_TOKEN_LENGTH = 64 * 1024


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


@dataclass
class UnverifiedToken:
    """A parsed compact JWS whose signature has not been checked yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    _jws: jwcrypto_jws.JWS = field(repr=False)

    @classmethod
    def parse(cls, token: str) -> UnverifiedToken:
        """Parse a compact JWS with a JSON object payload; ``InvalidToken`` if malformed."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed token: empty or too long")
        if token.count(".") != 2:
            raise InvalidToken("malformed token: not a compact JWS")
        parsed = jwcrypto_jws.JWS()
        parsed.allowed_algs = sorted(SIGNATURE_ALGORITHMS)
        try:
            parsed.deserialize(token)
            header = parsed.jose_header
            claims = json.loads(parsed.objects["payload"])
        except (JWException, ValueError, KeyError, TypeError):
            raise InvalidToken("malformed token: cannot decode the JWS") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("malformed token: header and payload must be JSON objects")
        if header.get("alg") not in SIGNATURE_ALGORITHMS:
            raise InvalidToken(f"token algorithm must be one of {', '.join(sorted(SIGNATURE_ALGORITHMS))}")
        if "crit" in header:
            raise InvalidToken("token has critical header parameters that are not understood")
        return cls(header=header, claims=claims, _jws=parsed)

    @property
    def algorithm(self) -> str:
        return str(self.header["alg"])

    def verify(self, key: JWK) -> dict[str, Any]:
        """Check the signature with ``key``; the (now trusted) claims."""
        try:
            self._jws.verify(key, alg=self.algorithm)
        except (JWException, ValueError, TypeError):
            raise InvalidToken("token signature does not verify") from None
        return self.claims
