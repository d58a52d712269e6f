"""One-time tokens as ``step ca token`` makes them, and ``x5c`` renew tokens."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.errors import BadRequest, NotFound
from appliance.jose import sign, sign_xeddsa
from appliance.jose.jwk import JWK

#: step's one-time token lifetime (the CA accepts at most 5 minutes).
TOKEN_LIFETIME = 300
#: step-ca checks this issuer in renew tokens.
RENEW_TOKEN_ISSUER = "step-ca-client/1.0"
#: ... and this one in admin tokens.
ADMIN_TOKEN_ISSUER = "step-admin-client/1.0"


def audience(ca_url: str, endpoint: str) -> str:
    """``https://host[:port]/1.0/<endpoint>``, the audience step puts in tokens."""
    return f"{ca_url.rstrip('/')}/1.0/{endpoint}"


def _times(now: float | None) -> dict[str, int]:
    issued = int(time.time() if now is None else now)
    return {"iat": issued, "nbf": issued, "exp": issued + TOKEN_LIFETIME}


def provisioner_token(key: JWK, *, provisioner: str, ca_url: str, endpoint: str, subject: str,
                      root_fingerprint: str, sans: Sequence[str] = (), now: float | None = None) -> str:
    """A JWK provisioner's token for ``/sign`` (with ``sans``) or ``/revoke`` (subject = serial)."""
    claims: dict[str, Any] = {
        "iss": provisioner,
        "aud": audience(ca_url, endpoint),
        "sub": subject,
        "sha": root_fingerprint,
        **_times(now),
        "jti": os.urandom(32).hex(),
    }
    if endpoint == "sign":
        claims["sans"] = list(sans) or [subject]
    return sign(claims, key)


def _x5c_signed(claims: dict[str, Any], chain: Sequence[x509.Certificate], key: PrivateKeyTypes) -> str:
    """``claims`` signed by ``key``, the certificate chain in the ``x5c`` header."""
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain]
    return sign(claims, JWK.from_pyca(key), headers={"x5c": x5c})


def renew_token(chain: Sequence[x509.Certificate], key: PrivateKeyTypes, *, ca_url: str,
                now: float | None = None) -> str:
    """A renew token signed by the certificate's own key, the chain in the ``x5c`` header."""
    common_names = chain[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    claims: dict[str, Any] = {
        "iss": RENEW_TOKEN_ISSUER,
        "aud": audience(ca_url, "renew"),
        **_times(now),
        "jti": os.urandom(32).hex(),
    }
    if common_names:
        claims["sub"] = str(common_names[0].value)
    return _x5c_signed(claims, chain, key)


def admin_token(chain: Sequence[x509.Certificate], key: PrivateKeyTypes, *, ca_url: str, path: str, subject: str,
                now: float | None = None) -> str:
    """An admin token for one admin API request (step's): the request's URL as audience,
    the admin certificate's chain in the ``x5c`` header, signed by its key."""
    claims: dict[str, Any] = {
        "iss": ADMIN_TOKEN_ISSUER,
        "aud": f"{ca_url.rstrip('/')}{path}",
        "sub": subject,
        **_times(now),
        "jti": os.urandom(32).hex(),
    }
    return _x5c_signed(claims, chain, key)


def x5c_token(chain: Sequence[x509.Certificate], key: PrivateKeyTypes, *, provisioner: str, ca_url: str,
              endpoint: str, subject: str, root_fingerprint: str, sans: Sequence[str] = (),
              now: float | None = None, ssh: dict[str, Any] | None = None) -> str:
    """An X5C provisioner's token (``step ca token --x5c-cert --x5c-key``): the audience
    carries ``#x5c/<provisioner>`` so that the CA finds the provisioner; ``ssh``: the
    ``step.ssh`` claim of an SSH token."""
    claims: dict[str, Any] = {
        "iss": provisioner,
        "aud": f"{audience(ca_url, endpoint)}#x5c/{provisioner}",
        "sub": subject,
        "sha": root_fingerprint,
        **_times(now),
        "jti": os.urandom(32).hex(),
    }
    if endpoint == "sign":
        claims["sans"] = list(sans) or [subject]
    if ssh is not None:
        claims["step"] = {"ssh": ssh}
    return _x5c_signed(claims, chain, key)


def find_provisioner(provisioners: list[dict[str, Any]], name: str, kid: str | None = None) -> dict[str, Any]:
    """The provisioner called ``name`` (a JWK one with key id ``kid`` when given)."""
    for provisioner in provisioners:
        key = provisioner.get("key") or {}
        if provisioner.get("name") == name and (kid is None or key.get("kid") == kid):
            return provisioner
    raise NotFound(f"the CA has no provisioner named '{name}'" + (f" with kid '{kid}'" if kid else ""))


def nebula_token(certificate_pem: bytes, key_pem: bytes, *, provisioner: str, ca_url: str, endpoint: str,
                 subject: str, sans: Sequence[str] = (), now: float | None = None,
                 ssh: dict[str, Any] | None = None) -> str:
    """A Nebula provisioner's token (``step ca token --nebula-cert --nebula-key``): signed
    (XEdDSA) by the host's X25519 key, its Nebula certificate in the ``nebula`` header;
    ``ssh``: the ``step.ssh`` claim of an SSH token."""
    certificate, key = _nebula_pem(certificate_pem, "NEBULA CERTIFICATE"), _nebula_pem(key_pem, "NEBULA X25519 PRIVATE KEY")
    claims: dict[str, Any] = {
        "iss": provisioner,
        "aud": f"{audience(ca_url, endpoint)}#nebula/{provisioner}",
        "sub": subject,
        **_times(now),
        "jti": os.urandom(32).hex(),
    }
    if endpoint == "sign" and sans:
        claims["sans"] = list(sans)
    if ssh is not None:
        claims["step"] = {"ssh": ssh}
    return sign_xeddsa(claims, key, {"nebula": base64.b64encode(certificate).decode("ascii")})


def _nebula_pem(data: bytes, label: str) -> bytes:
    """The bytes of the first ``label`` PEM block in ``data``."""
    begin, end = f"-----BEGIN {label}-----".encode(), f"-----END {label}-----".encode()
    start, stop = data.find(begin), data.find(end)
    if start < 0 or stop < start:
        raise BadRequest(f"no {label} in the file")
    try:
        return base64.b64decode(b"".join(data[start + len(begin):stop].split()), validate=True)
    except ValueError:
        raise BadRequest(f"the {label} is not base64") from None


#: Where Kubernetes mounts a pod's service-account token.
K8SSA_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def service_account_token(path: Path) -> str:
    """A Kubernetes service-account token read from its file (K8sSA provisioners)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cannot read the service-account token {path}: {exc}") from None
