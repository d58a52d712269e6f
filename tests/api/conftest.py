"""A fake authority (real certificates, scripted outcomes) and an httpx client on the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from appliance.api import ApiSettings, create_app
from appliance.authority.interfaces import IssuedCertificate, RevokeRequest, SignRequest
from appliance.errors import NotFound, Unauthorized
from tests.api.pki import FakePKI

GOOD_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhZG1pbiJ9.c2ln"  # iss=admin


@dataclass
class FakeAuthority:
    """Implements AuthorityInterface; records every call; ``fail`` makes the next call raise."""

    pki: FakePKI = field(default_factory=FakePKI.create)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail: Exception | None = None
    signs_in_process: bool = False
    signs_on_device: bool = False

    def _check(self, name: str, argument: Any) -> None:
        self.calls.append((name, argument))
        if self.fail is not None:
            raise self.fail

    def _issue(self, common_name: str) -> IssuedCertificate:
        return IssuedCertificate(self.pki.leaf(common_name), (self.pki.intermediate,))

    def sign(self, request: SignRequest) -> IssuedCertificate:
        self._check("sign", request)
        if request.token != GOOD_TOKEN:
            raise Unauthorized("invalid token")
        cn = request.csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        return self._issue(str(cn))

    def renew(self, certificate: x509.Certificate) -> IssuedCertificate:
        self._check("renew", certificate)
        return self._issue("renewed")

    def authorize_renew_token(self, token: str) -> x509.Certificate:
        self._check("authorize_renew_token", token)
        if token != GOOD_TOKEN:
            raise Unauthorized("invalid renew token")
        return self.pki.leaf("from-token")

    def rekey(self, certificate: x509.Certificate, csr: x509.CertificateSigningRequest) -> IssuedCertificate:
        self._check("rekey", (certificate, csr))
        return self._issue("rekeyed")

    def revoke(self, request: RevokeRequest) -> None:
        self._check("revoke", request)

    def roots(self) -> list[x509.Certificate]:
        return [self.pki.root]

    def intermediates(self) -> list[x509.Certificate]:
        return [self.pki.intermediate]

    def federated_roots(self) -> list[x509.Certificate]:
        return [self.pki.root]

    def provisioners(self, cursor: str = "", limit: int = 20) -> tuple[list[dict[str, Any]], str]:
        self.calls.append(("provisioners", (cursor, limit)))
        return [{"type": "JWK", "name": "admin", "key": {"kid": "k1"}}], ""

    def encrypted_key(self, kid: str) -> str:
        if kid != "k1":
            raise NotFound(f"no provisioner with kid {kid}")
        return "a.b.c.d.e"

    def crl(self) -> bytes:
        return b"\x30\x00"

    def root_crl(self) -> bytes | None:
        return None


class WithPeer:
    """Puts a client certificate in the ASGI TLS extension, as the server does."""

    def __init__(self, app: ASGIApp, certificate: x509.Certificate) -> None:
        self.app = app
        self.pem = certificate.public_bytes(Encoding.PEM).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": [self.pem]}
        await self.app(scope, receive, send)


@pytest.fixture(params=[False, True], ids=["thread-pool", "in-process"])
def authority(request: pytest.FixtureRequest) -> FakeAuthority:
    """The fake, with its calls run in the thread pool or (in-process key) on the event loop."""
    return FakeAuthority(signs_in_process=request.param)


MAX_BODY = 64 * 1024


def make_client(authority: FakeAuthority, peer: x509.Certificate | None = None) -> TestClient:
    """A client on the app; ``peer`` is presented as the mTLS client certificate."""
    app = create_app(authority, ApiSettings(max_body_bytes=MAX_BODY))
    return TestClient(WithPeer(app, peer) if peer else app, base_url="https://ca.test", raise_server_exceptions=False)


@pytest.fixture
def client(authority: FakeAuthority) -> TestClient:
    return make_client(authority)
