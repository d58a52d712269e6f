"""A real in-process CA (softkms, SQLite, CRL enabled) with the console mounted, and client
certificates for an admin, a viewer and a stranger, presented as the server would (mTLS)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.testclient import TestClient

from appliance.api import ApiSettings, create_app
from appliance.audit import NO_AUDIT, AuditSink
from appliance.authority.authority import Authority
from appliance.authority.interfaces import IssuedCertificate, SignRequest
from appliance.config.console import ConsoleOptions, OidcLoginOptions
from appliance.console import AuditLog, ConsoleSettings, ReadModel, console_app
from appliance.db import open_database
from appliance.db.sql import SQLDatabase
from appliance.pki.clock import utc_now
from tests.api.conftest import WithPeer
from tests.ca_fixtures import PASSWORD, TestCA, build_ca, make_csr, new_key

ADMIN = "admin@ca.test"
VIEWER = "viewer@ca.test"


@dataclass
class ConsoleCA:
    ca: TestCA
    database: SQLDatabase
    authority: Authority

    def issue(self, common_name: str, sans: list[str] | None = None) -> x509.Certificate:
        csr, _ = make_csr(common_name, sans)
        token = self.ca.token(common_name, sans=sans or [common_name])
        issued: IssuedCertificate = self.authority.sign(SignRequest(csr=csr, token=token))
        return issued.certificate

    def client_certificate(self, name: str) -> x509.Certificate:
        """A client certificate signed by the intermediate (as the TLS listener verifies it)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        key = new_key()
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
                .issuer_name(self.ca.intermediate.subject).public_key(key.public_key())  # type: ignore[arg-type]
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
                .sign(self.ca.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]

    def client(self, peer: x509.Certificate | None = None, *, public_view: bool = False,
               audit: AuditLog | None = None, audit_sink: AuditSink = NO_AUDIT,
               clock: Callable[[], datetime.datetime] = utc_now,
               oidc: OidcLoginOptions | None = None) -> TestClient:
        options = ConsoleOptions(enabled=True, public_view=public_view, admins=frozenset({ADMIN}),
                                 viewers=frozenset({VIEWER}), oidc=oidc)
        config = self.ca.config()
        console = ConsoleSettings(options, ReadModel(self.database.engine), crl=config.crl, ocsp=config.ocsp,
                                  audit=audit, audit_sink=audit_sink, clock=clock)
        app = create_app(self.authority, ApiSettings(mounts=(("/console", console_app(self.authority, console)),)))
        return TestClient(WithPeer(app, peer) if peer else app, base_url="https://ca.test",
                          raise_server_exceptions=False)


@pytest.fixture
def console_ca(tmp_path: Path) -> Iterator[ConsoleCA]:
    ca = build_ca(tmp_path, crl={"enabled": True})
    database = open_database(ca.config().db)
    authority = Authority.from_config(ca.config(), database, password=PASSWORD)
    yield ConsoleCA(ca, database, authority)
    authority.close()
    database.close()
