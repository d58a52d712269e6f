"""kill -9 during load loses no certificate a client received.

``appliance serve`` (supervisor and workers, one process group) takes sign
requests from several client threads; once enough certificates have come back,
the whole group gets SIGKILL while requests are in flight. The server is started
again on the same CA and database, and every serial a client received with a 201
must be recorded. The load is bounded by a count of certificates, not by time.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from cryptography import x509

from tests.db.conftest import mysql_config, postgres_config  # noqa: F401  (fresh database per run, dropped afterwards)
from tests.e2e.harness import CA, csr_pem, init_ca, new_key, start_server, token

pytestmark = pytest.mark.slow

CLIENTS = 8
#: Certificates received before the kill (a few seconds of load on two cores).
KILL_AFTER = 200
#: A guard against a server that stops answering: the test fails instead of hanging.
LOAD_TIMEOUT = 120.0


class Load:
    """Client threads signing back to back until the server goes away."""

    def __init__(self, ca: CA) -> None:
        self.ca = ca
        self.received: list[int] = []
        self.refused: list[str] = []
        self.enough = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def _client(self) -> None:
        key = new_key()
        with self.ca.client() as client:
            while True:
                name = f"d{uuid.uuid4().hex[:12]}.example"
                try:
                    response = client.post("/sign", json={"csr": csr_pem(name, key), "ott": token(self.ca, name)})
                except httpx.TransportError:  # the server was killed: this request may or may not be recorded
                    return
                with self._lock:
                    if response.status_code != 201:
                        self.refused.append(f"{response.status_code} {response.text[:200]}")
                        continue
                    self.received.append(x509.load_pem_x509_certificate(response.json()["crt"].encode()).serial_number)
                    if len(self.received) >= KILL_AFTER:
                        self.enough.set()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(LOAD_TIMEOUT)
            assert not thread.is_alive(), "a client thread did not stop after the kill"


def _kill_during_load(ca: CA) -> tuple[list[int], set[int]]:
    """Serials received before the kill, and serials recorded once restarted."""
    server = start_server(ca)
    load = Load(ca)
    try:
        load.start()
        assert load.enough.wait(LOAD_TIMEOUT), f"only {len(load.received)} certificates under load"
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        load.join()
    finally:
        server.stop()
    assert load.refused == []
    restarted = start_server(ca)
    try:
        recorded = {int(serial) for (serial,) in ca.query("SELECT serial FROM certificates")}
        with ca.client() as client:  # and it serves again
            name = "after.example"
            assert client.post("/sign", json={"csr": csr_pem(name, new_key()), "ott": token(ca, name)}).status_code == 201
    finally:
        restarted.stop()
    return load.received, recorded


def _check(engine: str, received: list[int], recorded: set[int]) -> None:
    missing = set(received) - recorded
    print(f"durability {engine}: {len(received)} certificates received, "
          f"{len(set(received) & recorded)} of them recorded, {len(recorded)} rows after restart")
    assert len(received) >= KILL_AFTER
    assert missing == set(), f"{len(missing)} of {len(received)} received certificates are not recorded"


def test_sqlite_keeps_every_certificate_a_client_received(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    _check("sqlite", *_kill_during_load(ca))


@pytest.mark.postgres
def test_postgresql_keeps_every_certificate_a_client_received(
        tmp_path: Path, postgres_config: Callable[[], dict[str, Any]]) -> None:  # noqa: F811
    ca = init_ca(tmp_path)
    data = ca.data()
    data["db"] = postgres_config()
    ca.write(data)
    _check("postgresql", *_kill_during_load(ca))


@pytest.mark.mysql
def test_mysql_keeps_every_certificate_a_client_received(
        tmp_path: Path, mysql_config: Callable[[], dict[str, Any]]) -> None:  # noqa: F811
    ca = init_ca(tmp_path)
    data = ca.data()
    data["db"] = mysql_config()
    ca.write(data)
    _check("mysql", *_kill_during_load(ca))
