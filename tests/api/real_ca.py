"""A real in-process CA (softkms intermediate, SQLite, JWK provisioner) behind the
step-ca API, for tests that send it malformed input and check that nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography import x509
from sqlalchemy import func, select
from starlette.testclient import TestClient

from appliance.api import ApiSettings, create_app
from appliance.authority.authority import Authority
from appliance.db.schema import certificates, revocations
from appliance.db.sql import SQLDatabase
from tests.ca_fixtures import TestCA, build_ca, open_authority


@dataclass
class RealCA:
    """The CA, its database and an HTTP client on its app."""

    ca: TestCA
    database: SQLDatabase
    authority: Authority
    http: TestClient

    def counts(self) -> tuple[int, int]:
        """Certificates and revocations recorded."""
        with self.database.transaction() as conn:
            return (conn.scalar(select(func.count()).select_from(certificates)) or 0,
                    conn.scalar(select(func.count()).select_from(revocations)) or 0)

    def close(self) -> None:
        self.http.close()
        self.database.close()


def start_real_ca(tmp_path: Path, settings: ApiSettings | None = None) -> RealCA:
    ca = build_ca(tmp_path)
    database, authority = open_authority(ca)
    http = TestClient(create_app(authority, settings), base_url="https://ca.test", raise_server_exceptions=False)
    return RealCA(ca, database, authority, http)


def pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(Encoding.PEM).decode()
