"""The ``step ssh`` side: the CA's SSH API over HTTPS, and the tokens it takes (a JWK
provisioner's with ``step.ssh`` claims; SSHPOP, signed by a host certificate's key)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import SSHCertificate
from jwcrypto.jwk import JWK

from appliance.client.http import CaClient, CaRequestFailed
from appliance.client.tokens import TOKEN_LIFETIME, audience
from appliance.errors import BadRequest
from appliance.jose import sign
from appliance.sshcert import SSHPublicKey, certificate_blob, key_blob, parse_certificate


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def ssh_sign_claim(key_id: str, cert_type: str, principals: Sequence[str]) -> dict[str, Any]:
    """The ``step.ssh`` claim step puts in an SSH sign token."""
    return {"certType": cert_type, "keyID": key_id, "principals": list(principals) or [key_id],
            "validAfter": "", "validBefore": ""}


def ssh_token(key: JWK, *, provisioner: str, ca_url: str, endpoint: str, subject: str, root_fingerprint: str,
              cert_type: str = "", principals: Sequence[str] = ()) -> str:
    """A JWK provisioner's token for ``/ssh/sign`` (``step.ssh`` claims) or ``/ssh/revoke``."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": provisioner, "aud": audience(ca_url, endpoint), "sub": subject,
                              "sha": root_fingerprint, "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME,
                              "jti": os.urandom(32).hex()}
    if endpoint == "ssh/sign":
        claims["step"] = {"ssh": ssh_sign_claim(subject, cert_type, principals)}
    return sign(claims, key)


def sshpop_token(certificate: SSHCertificate, key: PrivateKeyTypes, *, provisioner: str, ca_url: str,
                 endpoint: str, subject: str = "") -> str:
    """An SSHPOP token: signed by ``key``, the key of ``certificate`` (in the ``sshpop`` header)."""
    now = int(time.time())
    claims = {"iss": provisioner, "aud": f"{audience(ca_url, endpoint)}#sshpop/{provisioner}",
              "sub": subject or str(certificate.serial), "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME,
              "jti": os.urandom(32).hex()}
    try:
        signing_key = JWK.from_pyca(key)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"the key cannot sign an SSHPOP token: {exc}") from None
    return sign(claims, signing_key, headers={"sshpop": _b64(certificate_blob(certificate))})


def load_sshpop_key(path: Path, password: bytes | None) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    """The private key of an SSH certificate (OpenSSH or PEM format), to sign SSHPOP tokens."""
    try:
        data = path.read_bytes()
        key = (serialization.load_ssh_private_key(data, password) if b"OPENSSH PRIVATE KEY" in data
               else serialization.load_pem_private_key(data, password))
    except (OSError, ValueError, TypeError) as exc:
        raise BadRequest(f"cannot read the private key {path}: {exc}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise BadRequest("SSHPOP tokens are signed with ECDSA or Ed25519 keys")
    return key


class SshClient(CaClient):
    """``CaClient`` with step-ca's ``/ssh/*`` endpoints."""

    def _certificate(self, body: dict[str, Any], name: str = "crt") -> SSHCertificate:
        try:
            return parse_certificate(str(body[name]))
        except (KeyError, BadRequest):
            raise CaRequestFailed("the CA returned a malformed SSH certificate") from None

    def ssh_sign(self, public_key: SSHPublicKey, ott: str, *, cert_type: str, key_id: str,
                 principals: Sequence[str], valid_after: str = "", valid_before: str = "") -> SSHCertificate:
        body = {"publicKey": _b64(key_blob(public_key)), "ott": ott, "certType": cert_type, "keyID": key_id,
                "principals": list(principals), "validAfter": valid_after, "validBefore": valid_before}
        return self._certificate(self._request("POST", "/1.0/ssh/sign", json=body))

    def ssh_renew(self, ott: str) -> SSHCertificate:
        return self._certificate(self._request("POST", "/1.0/ssh/renew", json={"ott": ott}))

    def ssh_rekey(self, ott: str, public_key: SSHPublicKey) -> SSHCertificate:
        body = {"ott": ott, "publicKey": _b64(key_blob(public_key))}
        return self._certificate(self._request("POST", "/1.0/ssh/rekey", json=body))

    def ssh_revoke(self, ott: str, *, serial: str = "", public_key: SSHPublicKey | None = None,
                   reason: str = "") -> None:
        body: dict[str, Any] = {"ott": ott, "serial": serial, "reason": reason, "passive": True}
        if public_key is not None:
            body["publicKey"] = _b64(key_blob(public_key))
        self._request("POST", "/1.0/ssh/revoke", json=body)

    def ssh_roots(self) -> dict[str, list[str]]:
        return dict(self._request("GET", "/1.0/ssh/roots"))

    def ssh_hosts(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/1.0/ssh/hosts").get("hosts") or [])

    def ssh_config(self, kind: str, data: dict[str, str]) -> list[dict[str, Any]]:
        """``POST /ssh/config``: the outputs of the ``user`` or ``host`` templates."""
        return list(self._request("POST", "/1.0/ssh/config", json={"type": kind, "data": data}).get(f"{kind}Key")
                    or [])

    def ssh_check_host(self, principal: str) -> bool:
        return bool(self._request("POST", "/1.0/ssh/check-host",
                                  json={"type": "host", "principal": principal}).get("exists"))

    def ssh_krl(self) -> bytes:
        return self._send("GET", "/1.0/ssh/krl").content
