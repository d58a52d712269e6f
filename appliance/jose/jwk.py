"""JSON Web Keys: generation (as ``step crypto jwk create``), RFC 7638 key ids."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwcrypto.common import JWException
from jwcrypto.jwk import JWK  # re-exported: the key type the rest of appliance uses

from appliance.jose.errors import InvalidKey

_EC_CURVES: dict[str, tuple[ec.EllipticCurve, str]] = {
    "P-256": (ec.SECP256R1(), "ES256"),
    "P-384": (ec.SECP384R1(), "ES384"),
    "P-521": (ec.SECP521R1(), "ES512"),
}
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "n", "e", "kid", "alg", "use")


def _generate_private(kty: str, crv: str | None, size: int) -> tuple[PrivateKeyTypes, str]:
    kty = kty.upper()
    if kty == "EC":
        curve = crv or "P-256"
        if curve not in _EC_CURVES:
            raise InvalidKey(f"unsupported EC curve '{curve}' (use P-256, P-384 or P-521)")
        ec_curve, alg = _EC_CURVES[curve]
        return ec.generate_private_key(ec_curve), alg
    if kty == "RSA":
        if size < 2048:
            raise InvalidKey("RSA keys must be at least 2048 bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=size), "RS256"
    if kty == "OKP":
        if (crv or "Ed25519") != "Ed25519":
            raise InvalidKey(f"unsupported OKP curve '{crv}' (use Ed25519)")
        return ed25519.Ed25519PrivateKey.generate(), "EdDSA"
    raise InvalidKey(f"unsupported key type '{kty}' (use EC, RSA or OKP)")


def generate_jwk(kty: str = "EC", *, crv: str | None = None, size: int = 2048) -> JWK:
    """A new signing key (default EC P-256 / ES256) whose ``kid`` is its thumbprint."""
    private, alg = _generate_private(kty, crv, size)
    key = JWK.from_pyca(private)
    members = key.export(as_dict=True)
    members.update(use="sig", alg=alg, kid=key.thumbprint())
    return JWK(**members)


def thumbprint(key: JWK) -> str:
    """The RFC 7638 SHA-256 thumbprint, base64url: step's key id."""
    return key.thumbprint()


def key_from_dict(members: dict[str, Any]) -> JWK:
    """A JWK from its JSON members; ``InvalidKey`` if malformed."""
    if not isinstance(members, dict) or members.get("kty") not in ("EC", "RSA", "OKP"):
        raise InvalidKey("a JWK must be an object with kty EC, RSA or OKP")
    try:
        return JWK(**members)
    except (JWException, ValueError, TypeError) as exc:
        raise InvalidKey(f"malformed JWK: {exc}") from None


def public_dict(key: JWK) -> dict[str, Any]:
    """The public members of a key (with kid, alg and use), in step's order."""
    exported = key.export(private_key=False, as_dict=True)
    return {name: exported[name] for name in _PUBLIC_MEMBERS if name in exported}


def algorithm_for(key: JWK) -> str:
    """The key's ``alg``, or the default signature algorithm for its type."""
    alg = key.get("alg")
    if alg:
        return str(alg)
    kty = key.get("kty")
    if kty == "EC":
        crv = str(key.get("crv"))
        if crv not in _EC_CURVES:
            raise InvalidKey(f"unsupported EC curve '{crv}'")
        return _EC_CURVES[crv][1]
    if kty == "RSA":
        return "RS256"
    if kty == "OKP" and key.get("crv") == "Ed25519":
        return "EdDSA"
    raise InvalidKey(f"no signature algorithm for key type '{kty}'")
