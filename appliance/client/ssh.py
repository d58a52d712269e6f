"""The ``step ssh`` side: the CA's SSH API over HTTPS, and the tokens it takes (a JWK
provisioner's with ``step.ssh`` claims; SSHPOP, signed by a host certificate's key)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import SSHCertificate
from jwcrypto.jwk import JWK

from appliance.client.http import CaClient, CaRequestFailed
from appliance.client.tokens import TOKEN_LIFETIME, audience
from appliance.errors import BadRequest
from appliance.jose import sign, sign_with_key
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
    """An SSHPOP token: signed by ``key``, the key of ``certificate`` (in the ``sshpop`` header),
    in memory or in a KMS."""
    now = int(time.time())
    claims = {"iss": provisioner, "aud": f"{audience(ca_url, endpoint)}#sshpop/{provisioner}",
              "sub": subject or str(certificate.serial), "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME,
              "jti": os.urandom(32).hex()}
    return sign_with_key(claims, key, headers={"sshpop": _b64(certificate_blob(certificate))})


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


@dataclass(frozen=True)
class SshSignResponse:
    """step-ca's ``SSHSignResponse``: the certificate and the identity chain (``identityCrt``)."""

    certificate: SSHCertificate
    identity: tuple[x509.Certificate, ...] = ()


class SshClient(CaClient):
    """``CaClient`` with step-ca's ``/ssh/*`` endpoints."""

    def _certificate(self, body: dict[str, Any], name: str = "crt") -> SSHCertificate:
        try:
            return parse_certificate(str(body[name]))
        except (KeyError, BadRequest):
            raise CaRequestFailed("the CA returned a malformed SSH certificate") from None

    def ssh_sign(self, public_key: SSHPublicKey, ott: str, *, cert_type: str, key_id: str,
                 principals: Sequence[str], valid_after: str = "", valid_before: str = "",
                 identity_csr: x509.CertificateSigningRequest | None = None) -> SshSignResponse:
        """``POST /ssh/sign``; with ``identity_csr``, the X.509 identity chain too."""
        body = {"publicKey": _b64(key_blob(public_key)), "ott": ott, "certType": cert_type, "keyID": key_id,
                "principals": list(principals), "validAfter": valid_after, "validBefore": valid_before}
        if identity_csr is not None:
            body["identityCSR"] = identity_csr.public_bytes(serialization.Encoding.PEM).decode()
        answer = self._request("POST", "/1.0/ssh/sign", json=body)
        try:
            identity = tuple(x509.load_pem_x509_certificate(str(pem).encode()) for pem in answer.get("identityCrt") or [])
        except ValueError:
            raise CaRequestFailed("the CA returned a malformed identity certificate") from None
        return SshSignResponse(self._certificate(answer), identity)

    def requires_client_authentication(self) -> bool:
        """``requireClientAuthentication`` of ``GET /version``: step then gets an identity certificate."""
        return self._request("GET", "/version").get("requireClientAuthentication") is True

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

    def ssh_bastion(self, user: str, hostname: str) -> dict[str, str] | None:
        """``POST /ssh/bastion``: the bastion to reach ``hostname`` through, None to go direct."""
        found = self._request("POST", "/1.0/ssh/bastion", json={"user": user, "hostname": hostname}).get("bastion")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) and found.get("hostname") \
            else None

    def ssh_check_host(self, principal: str) -> bool:
        return bool(self._request("POST", "/1.0/ssh/check-host",
                                  json={"type": "host", "principal": principal}).get("exists"))

    def ssh_krl(self) -> bytes:
        return self._send("GET", "/1.0/ssh/krl").content
