"""A real uvicorn server with our TLS context and protocol: the verified client
certificate reaches the handler through the ASGI TLS extension."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.api import create_app
from appliance.config.connections import ConnectionSettings
from appliance.server.connections import ConnectionSlots
from appliance.server.worker import uvicorn_server
from appliance.server.servercert import tls_material
from appliance.authority.interfaces import IssuedCertificate
from tests.api.conftest import FakeAuthority
from tests.api.pki import FakePKI, make_certificate


@pytest.fixture
def served(tmp_path: Path, authority: FakeAuthority) -> Iterator[str]:
    pki = authority.pki
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_certificate("localhost", key, pki.intermediate, pki.intermediate_key, ca=False, sans=("localhost",))
    tls = tls_material(key, IssuedCertificate(leaf, (pki.intermediate,)), [pki.root])
    server = uvicorn_server(create_app(authority), tls=tls, slots=ConnectionSlots(ConnectionSettings()))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.01)
        yield f"https://localhost:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def _client_context(pki: FakePKI, tmp_path: Path, with_certificate: bool) -> ssl.SSLContext:
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(cafile=root)
    if with_certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = pki.leaf("client.example", key)
        (tmp_path / "client.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                                              + pki.intermediate.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "client.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
        context.load_cert_chain(tmp_path / "client.pem", tmp_path / "client.key")
    return context


def test_client_certificate_reaches_the_handler(served: str, authority: FakeAuthority, tmp_path: Path) -> None:
    with httpx.Client(verify=_client_context(authority.pki, tmp_path, True), timeout=10) as client:
        response = client.post(f"{served}/renew")
    assert response.status_code == 201
    (name, peer), = authority.calls
    assert name == "renew" and peer.subject.rfc4514_string() == "CN=client.example"


def test_without_client_certificate(served: str, authority: FakeAuthority, tmp_path: Path) -> None:
    with httpx.Client(verify=_client_context(authority.pki, tmp_path, False), timeout=10) as client:
        assert client.get(f"{served}/health").json() == {"status": "ok"}
        assert client.post(f"{served}/renew").status_code == 400
    assert authority.calls == []


def test_untrusted_client_certificate_is_refused(served: str, authority: FakeAuthority, tmp_path: Path) -> None:
    stranger = FakePKI.create()
    context = _client_context(stranger, tmp_path, True)
    context.load_verify_locations(cadata=authority.pki.root.public_bytes(serialization.Encoding.PEM).decode())
    with httpx.Client(verify=context, timeout=10) as client, pytest.raises(httpx.HTTPError):
        client.post(f"{served}/renew")
    assert authority.calls == []


def test_old_tls_versions_are_refused(served: str, authority: FakeAuthority, tmp_path: Path) -> None:
    context = _client_context(authority.pki, tmp_path, False)
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.minimum_version = ssl.TLSVersion.TLSv1
    with httpx.Client(verify=context, timeout=10) as client, pytest.raises(httpx.HTTPError):
        client.get(f"{served}/health")
