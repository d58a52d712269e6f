"""A real CA with remote management (``enableAdmin``) on each database engine, served by
the real app; admin certificates it issued through its JWK provisioner, and admin tokens
made by the client code."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from sqlalchemy import func, select
from starlette.testclient import TestClient

from appliance.admin import AdminApi
from appliance.api import create_app
from appliance.audit import AuditLog
from appliance.audit.setup import open_audit_log
from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.client.tokens import admin_token
from appliance.db import SQLDatabase
from appliance.db.admin_schema import admin_changes
from appliance.db.admin_store import AdminStore
from appliance.server.remote_management import open_remote_management
from tests.ca_fixtures import TestCA, build_ca, make_csr, open_authority
from tests.clock import FakeClock
from tests.db.conftest import DbConfigFactory, db_config, mysql_config, postgres_config, sqlite_config  # noqa: F401

CA_URL = "https://ca.test"


@dataclass
class Credential:
    """An admin certificate's chain and key."""

    chain: list[x509.Certificate]
    key: PrivateKeyTypes

    @property
    def subject(self) -> str:
        return str(self.chain[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


@dataclass
class Instance:
    """One CA process's objects on the shared database: its authority, admin API core,
    HTTP client and the injected monotonic clock of its revision polls."""

    ca: TestCA
    database: SQLDatabase
    authority: Authority
    api: AdminApi
    http: TestClient
    clock: FakeClock = field(default_factory=FakeClock)

    @functools.cached_property
    def step(self) -> Credential:
        """The first super admin's certificate (subject ``step``, the JWK provisioner's)."""
        return self.certificate("step")

    def certificate(self, subject: str) -> Credential:
        """A certificate for ``subject`` issued through the CA's JWK provisioner."""
        csr, key = make_csr(subject)
        issued = self.authority.sign(SignRequest(csr, self.ca.token(subject)))
        return Credential([issued.certificate, *issued.chain], key)

    def token(self, credential: Credential, path: str, *, now: float | None = None) -> str:
        return admin_token(credential.chain, credential.key, ca_url=CA_URL, path=path, subject=credential.subject,
                           now=now)

    def call(self, method: str, path: str, credential: Credential | None = None, body: Any = None,
             token: str | None = None) -> httpx.Response:
        """An admin API request with a fresh token of ``credential`` (or ``token``)."""
        if token is None and credential is not None:
            token = self.token(credential, path)
        headers = {"Authorization": token} if token is not None else {}
        return self.http.request(method, path, headers=headers,
                                 content=None if body is None else json.dumps(body).encode())

    def audit_events(self) -> list[tuple[str, dict[str, Any]]]:
        """The audit log's admin records: event and data."""
        log = AuditLog(self.database.transaction)
        return [(r.event, json.loads(r.data)) for r in log.records() if r.event.startswith("admin.")]

    def snapshot(self) -> tuple[Any, ...]:
        """The admin revision, the live provisioners and admins, and the change record's size."""
        store = AdminStore(self.database)
        with self.database.transaction() as conn:
            changes = conn.scalar(select(func.count()).select_from(admin_changes))
        return store.revision(), store.provisioners(), store.admins(), changes

    def close(self) -> None:
        self.http.close()
        self.authority.close()
        self.database.close()


def open_instance(ca: TestCA) -> Instance:
    """A CA instance as ``appliance serve`` composes it, on the database ca.json names."""
    database, authority = open_authority(ca)
    audit = open_audit_log(authority.config.audit, database.transaction)
    if audit is not None:
        authority.audit = audit
    clock = FakeClock()
    api = open_remote_management(authority, database, clock=lambda: clock.elapsed)
    http = TestClient(create_app(authority, admin=api), base_url=CA_URL, raise_server_exceptions=False)
    return Instance(ca, database, authority, api, http, clock)


def remote_ca(tmp_path: Path, db: dict[str, Any], intermediate_kind: str = "EC") -> TestCA:
    """A CA on disk whose ca.json has ``enableAdmin`` and the database ``db``."""
    ca = build_ca(tmp_path, authority={"enableAdmin": True}, intermediate_kind=intermediate_kind)
    data = json.loads(ca.config_path.read_text())
    data["db"] = db
    ca.config_path.write_text(json.dumps(data))
    return ca


@pytest.fixture
def instance(tmp_path: Path, db_config: DbConfigFactory) -> Iterator[Instance]:  # noqa: F811
    opened = open_instance(remote_ca(tmp_path, db_config()))
    yield opened
    opened.close()


@pytest.fixture
def single(tmp_path: Path, sqlite_config: DbConfigFactory) -> Iterator[Instance]:  # noqa: F811
    """An instance on SQLite, for what does not depend on the engine."""
    opened = open_instance(remote_ca(tmp_path, sqlite_config()))
    yield opened
    opened.close()


def now_minus(seconds: float) -> float:
    return time.time() - seconds
