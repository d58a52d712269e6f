"""An in-process CA with ACME provisioners, its app behind a TestClient, and the
challenge responders (DNS, HTTP, TLS-ALPN) on loopback."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select
from starlette.testclient import TestClient

from appliance.acme import AcmeServer, AcmeSettings, ValidationSettings
from appliance.api import create_app
from appliance.authority.authority import Authority
from appliance.db.acme_schema import TABLES
from appliance.acme.sql_store import SQLAcmeStore
from appliance.db.schema import certificates, revocations
from appliance.db.sql import SQLDatabase
from appliance.pki.clock import utc_now
from tests.acme.client import AcmeClient
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.ca_fixtures import TestCA, build_ca, open_authority

FAST_VALIDATION = ValidationSettings(attempts=2, retry_delay=0.05, timeout=2.0, workers=4)


@dataclass
class AcmeEnv:
    """A running in-process ACME CA."""

    ca: TestCA
    database: SQLDatabase
    store: SQLAcmeStore
    authority: Authority
    server: AcmeServer
    http: TestClient
    dns: DnsServer
    web: HttpServer
    alpn: TlsAlpnServer

    def __enter__(self) -> AcmeEnv:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.server.close()
        self.database.close()

    def directory(self, provisioner: str = "acme") -> str:
        return f"https://ca.test/acme/{provisioner}/directory"

    def client(self, provisioner: str = "acme", **options: Any) -> AcmeClient:
        return AcmeClient(self.http, self.directory(provisioner), **options)

    def account(self, provisioner: str = "acme") -> AcmeClient:
        client = self.client(provisioner)
        assert client.register(contact=["mailto:ops@example.test"]).status_code == 201
        return client

    def counts(self) -> dict[str, Any]:
        """Rows per ACME table (nonces excluded: every response mints one) and certificates."""
        with self.database.transaction() as conn:
            counts = {t.name: conn.scalar(select(func.count()).select_from(t)) or 0
                      for t in TABLES if t.name != "acme_nonces"}
            statuses = {t.name: sorted(conn.scalars(select(t.c.status))) for t in TABLES if "status" in t.c}
            counts["certificates"] = conn.scalar(select(func.count()).select_from(certificates)) or 0
            counts["revocations"] = conn.scalar(select(func.count()).select_from(revocations)) or 0
        return {**counts, **{f"{k}.status": v for k, v in statuses.items()}}


def acme_provisioner(name: str = "acme", **fields: Any) -> dict[str, Any]:
    return {"type": "ACME", "name": name, **fields}


def add_provisioners(ca: TestCA, *provisioners: dict[str, Any]) -> None:
    data = json.loads(ca.config_path.read_text())
    data["authority"]["provisioners"].extend(provisioners)
    ca.config_path.write_text(json.dumps(data))


def roots_field(*certificates: x509.Certificate) -> str:
    """``attestationRoots``: the PEM bundle, base64-encoded as in step-ca's ca.json."""
    return base64.b64encode(b"".join(c.public_bytes(Encoding.PEM) for c in certificates)).decode()


@pytest.fixture
def responders() -> Iterator[tuple[DnsServer, HttpServer, TlsAlpnServer]]:
    dns, web, alpn = DnsServer(), HttpServer(), TlsAlpnServer()
    yield dns, web, alpn
    dns.close()
    web.close()
    alpn.close()


def start(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
          *extra: dict[str, Any], settings: AcmeSettings = AcmeSettings(validation=FAST_VALIDATION),
          now: Callable[[], datetime.datetime] = utc_now, **fields: Any) -> AcmeEnv:
    """A CA whose provisioner "acme" has ``fields``, with the ``extra`` provisioners too;
    ``now`` is the ACME server's clock."""
    dns, web, alpn = responders
    ca = build_ca(tmp_path)
    network = {"challengePorts": {"http-01": web.port, "tls-alpn-01": alpn.port}, "challengeResolver": dns.address}
    add_provisioners(ca, acme_provisioner(**network, **fields), *extra)
    database, authority = open_authority(ca)
    store = SQLAcmeStore(database)
    server = AcmeServer(authority, store, settings, now=now)
    http = TestClient(create_app(authority, acme=server), base_url="https://ca.test", raise_server_exceptions=False)
    return AcmeEnv(ca, database, store, authority, server, http, dns, web, alpn)


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> Iterator[AcmeEnv]:
    running = start(tmp_path, responders, policy={"x509": {"deny": {"dns": ["*.denied.test", "denied.test"]}, "allowWildcardNames": True}})
    yield running
    running.server.close()
    running.database.close()


def device_attest_env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer], attestation_format: str,
                      *roots: x509.Certificate, **fields: Any) -> AcmeEnv:
    """A CA whose provisioner "acme" offers device-attest-01 in ``attestation_format`` trusting ``roots``."""
    return start(tmp_path, responders, challenges=["device-attest-01"], attestationFormats=[attestation_format],
                 attestationRoots=roots_field(*roots), **fields)
