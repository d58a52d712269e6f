"""ca.json's ``tls`` section acts on the listener: ``openssl s_client`` handshakes
outside ``minVersion``/``maxVersion``/``cipherSuites`` are refused, those inside
succeed, and the certificate request names the root and the intermediate."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.api import create_app
from appliance.authority.interfaces import IssuedCertificate
from appliance.config.tls import TlsOptions
from appliance.config.connections import ConnectionSettings
from appliance.server.connections import ConnectionSlots
from appliance.server.servercert import tls_material
from appliance.server.worker import uvicorn_server
from tests.api.conftest import FakeAuthority
from tests.api.pki import make_certificate
from tests.e2e.harness import csr_pem, init_ca, new_key, start_server, token

TLS13_ONLY_256 = TlsOptions(cipher_suites=("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"))


@contextlib.contextmanager
def _serving(tmp_path: Path, options: TlsOptions) -> Iterator[int]:
    """A real uvicorn listener with our TLS context for ``options``; its port."""
    pki = FakeAuthority().pki
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_certificate("localhost", key, pki.intermediate, pki.intermediate_key, ca=False, sans=("localhost",))
    tls = tls_material(key, IssuedCertificate(leaf, (pki.intermediate,)), [pki.root, pki.intermediate])
    server = uvicorn_server(create_app(FakeAuthority()), tls=tls, slots=ConnectionSlots(ConnectionSettings()),
                            tls_options=options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def _handshake(port: int, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                           *flags], input="", capture_output=True, text=True, timeout=30)


def _accepted(port: int, *flags: str) -> bool:
    result = _handshake(port, *flags)
    return result.returncode == 0 and "Cipher is (NONE)" not in result.stdout


@pytest.fixture
def default_port(tmp_path: Path) -> Iterator[int]:
    with _serving(tmp_path, TlsOptions()) as port:
        yield port


def test_step_ca_defaults(default_port: int) -> None:
    assert _accepted(default_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert _accepted(default_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305")
    assert not _accepted(default_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert not _accepted(default_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
    assert _accepted(default_port, "-tls1_3")
    for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"):
        assert _accepted(default_port, "-tls1_3", "-ciphersuites", suite)
    assert not _accepted(default_port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")


def test_the_certificate_request_names_the_root_and_the_intermediate(default_port: int) -> None:
    output = _handshake(default_port, "-tls1_2").stdout
    names = output.split("Acceptable client certificate CA names", 1)[1].split("Requested Signature", 1)[0]
    assert "CN = Test Root" in names and "CN = Test Intermediate" in names
    output = _handshake(default_port, "-tls1_3").stdout
    assert "CN = Test Intermediate" in output.split("Acceptable client certificate CA names", 1)[1]


def test_min_version_13_refuses_tls_12(tmp_path: Path) -> None:
    with _serving(tmp_path, TlsOptions(min_version=1.3)) as port:
        assert not _accepted(port, "-tls1_2")
        assert _accepted(port, "-tls1_3")


def test_max_version_12_refuses_tls_13(tmp_path: Path) -> None:
    with _serving(tmp_path, TlsOptions(max_version=1.2)) as port:
        assert not _accepted(port, "-tls1_3")
        assert _accepted(port, "-tls1_2")


def test_cipher_suites_restrict_tls_12_and_tls_13(tmp_path: Path) -> None:
    with _serving(tmp_path, TLS13_ONLY_256) as port:
        assert _accepted(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")
        assert not _accepted(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
        assert _accepted(port, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        assert not _accepted(port, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256")
        assert not _accepted(port, "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256")


@pytest.mark.slow
def test_served_tls_section_acts_and_follows_a_reload(tmp_path: Path) -> None:
    """``appliance serve``: the ``tls`` section reaches the workers' listeners and the
    ``tlsOptions`` of sign responses, and a SIGHUP applies a changed one."""
    ca = init_ca(tmp_path)
    server = start_server(ca, workers=1)
    try:
        assert _accepted(ca.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
        data = ca.data()
        data["tls"] = {"minVersion": 1.3, "maxVersion": 1.3, "cipherSuites": ["TLS_AES_256_GCM_SHA384"]}
        ca.write(data)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while _accepted(ca.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        assert _accepted(ca.port, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        assert not _accepted(ca.port, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256")
        with ca.client() as client:
            signed = client.post("/sign", json={"csr": csr_pem("tls.example", new_key()),
                                                "ott": token(ca, "tls.example")})
        assert signed.json()["tlsOptions"] == {"cipherSuites": ["TLS_AES_256_GCM_SHA384"], "minVersion": 1.3,
                                               "maxVersion": 1.3, "renegotiation": False}
    finally:
        server.stop()
