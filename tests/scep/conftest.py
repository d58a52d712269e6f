"""An in-process CA with SCEP provisioners (softkms keys, SQLite), served over plain HTTP
by uvicorn on a loopback port, as ``insecureAddress`` serves it."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from appliance.api import create_insecure_app
from appliance.authority.authority import Authority
from appliance.db.schema import certificates
from appliance.db.sql import SQLDatabase
from appliance.scep import ScepServer
from appliance.server.runtime import scep_server
from tests.ca_fixtures import TestCA, build_ca, open_authority

CHALLENGE = "s3cr3t-challenge"


def scep_provisioner(name: str = "scep", **fields: Any) -> dict[str, Any]:
    return {"type": "SCEP", "name": name, "challenge": CHALLENGE, **fields}


def add_provisioners(ca: TestCA, *provisioners: dict[str, Any]) -> None:
    data = json.loads(ca.config_path.read_text())
    data["authority"]["provisioners"].extend(provisioners)
    ca.config_path.write_text(json.dumps(data))


def pem_b64(item: x509.Certificate | bytes) -> str:
    """step-ca's []byte fields: base64 of a PEM document."""
    data = item if isinstance(item, bytes) else item.public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(data).decode()


class HttpServer:
    """uvicorn serving ``app`` on a loopback port in a thread."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[self._socket])),
                                        daemon=True)
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.01)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@dataclass
class ScepEnv:
    ca: TestCA
    database: SQLDatabase
    authority: Authority
    scep: ScepServer
    http: HttpServer

    def url(self, provisioner: str = "scep") -> str:
        return self.http.url(f"/scep/{provisioner}")

    def issued(self) -> int:
        with self.database.transaction() as conn:
            return conn.scalar(select(func.count()).select_from(certificates)) or 0

    def close(self) -> None:
        self.http.close()
        self.scep.close()
        self.authority.close()
        self.database.close()


def start_scep(ca: TestCA) -> ScepEnv:
    database, authority = open_authority(ca)
    scep = scep_server(authority)
    http = HttpServer(create_insecure_app(authority, scep=scep))
    return ScepEnv(ca, database, authority, scep, http)


@pytest.fixture(scope="module")
def rsa_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """An RSA intermediate (the decrypter when none is configured) and three SCEP provisioners."""
    ca = build_ca(tmp_path_factory.mktemp("scep-rsa"), intermediate_kind="RSA")
    add_provisioners(ca, scep_provisioner(), scep_provisioner("open", challenge=""),
                     scep_provisioner("chain", includeRoot=True, minimumPublicKeyLength=3072))
    return ca


@pytest.fixture(scope="module")
def env(rsa_ca: TestCA) -> Iterator[ScepEnv]:
    started = start_scep(rsa_ca)
    yield started
    started.close()


def openssl_verify(ca: TestCA, certificate: Path) -> None:
    """``openssl verify`` with the root as trust anchor and the intermediate as untrusted."""
    result = subprocess.run(["openssl", "verify", "-CAfile", str(ca.root_path), "-untrusted",
                             str(ca.intermediate_path), str(certificate)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stdout + result.stderr
