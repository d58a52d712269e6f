"""The X.509 identity that ``step ssh login``/``certificate`` get beside a user certificate
(``identityCSR`` in ``/ssh/sign``) and keep under the client's base directory, as step's
``ca.WriteDefaultIdentity`` does: ``identity/identity.crt``, ``identity/identity_key`` and
``config/identity.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.client.files import load_key_file, write_atomic, write_certificates, write_private_key
from appliance.client.keys import KeyType, generate_private_key, make_csr
from appliance.client.settings import ClientPaths
from appliance.jose import InvalidToken, UnverifiedToken


@dataclass(frozen=True)
class IdentityFiles:
    """Where the identity lives under the client's base directory (step's ``$STEPPATH``)."""

    paths: ClientPaths

    def request(self, subject: str) -> tuple[x509.CertificateSigningRequest, PrivateKeyTypes]:
        """step's ``ca.CreateIdentityRequest``: a CSR for ``subject`` signed by the identity key
        already kept (else a new P-256 key)."""
        path = self.paths.identity_key
        key = load_key_file(path) if path.exists() else generate_private_key(KeyType.EC_P256)
        return make_csr(subject, [], key), key

    def write(self, chain: Sequence[x509.Certificate], key: PrivateKeyTypes) -> None:
        """The certificate chain, its key (0600) and ``identity.json`` (type ``mTLS``)."""
        write_certificates(self.paths.identity_certificate, chain)
        write_private_key(self.paths.identity_key, key)
        description = {"type": "mTLS", "crt": str(self.paths.identity_certificate), "key": str(self.paths.identity_key)}
        write_atomic(self.paths.identity_json, json.dumps(description, indent=3).encode() + b"\n", mode=0o600)


def token_identity(token: str, default: str) -> str:
    """Whom the identity certificate names, as step chooses: the token's email (OIDC),
    else its subject, else ``default``."""
    try:
        claims = UnverifiedToken.parse(token, allow_special=True).claims
    except InvalidToken:
        return default
    for name in ("email", "sub"):
        if isinstance(claims.get(name), str) and claims[name]:
            return str(claims[name])
    return default
