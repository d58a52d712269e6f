"""The server certificate is replaced before it expires, by a new generation of
workers on the same socket, without a failed request in between."""

from __future__ import annotations

import socket
import ssl
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.e2e.harness import CA, csr_pem, init_ca, launch, new_key, token

pytestmark = pytest.mark.slow
LIFETIME_SECONDS = 6  # renewed at 2/3: every 4 s
OBSERVE_SECONDS = 12.0

SERVE = """
import datetime, sys
from pathlib import Path
from appliance.server.supervisor import ServeOptions, serve
from appliance.cli.options import read_password_file
serve(ServeOptions(Path(sys.argv[1]), read_password_file(sys.argv[2]), workers=1,
                   server_certificate_lifetime=datetime.timedelta(seconds=int(sys.argv[3]))))
"""


def _served_certificate(ca: CA) -> x509.Certificate:
    context = ssl.create_default_context(cafile=str(ca.root))
    with socket.create_connection(("127.0.0.1", ca.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_server_certificate_is_renewed_without_downtime(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data["authority"]["backdate"] = "0s"
    ca.write(data)
    server = launch(ca, [sys.executable, "-c", SERVE, str(ca.ca_json), str(ca.password_file), str(LIFETIME_SECONDS)])
    try:
        early = token(ca, "early.example")  # still valid after the renewals: the CA did not restart
        serials = set()
        failures = 0
        end = time.monotonic() + OBSERVE_SECONDS
        with ca.client() as client:
            while time.monotonic() < end:
                serials.add(_served_certificate(ca).serial_number)
                try:
                    failures += client.get("/health").status_code != 200
                except httpx.HTTPError:
                    failures += 1
                time.sleep(0.05)
            signed = client.post("/sign", json={"csr": csr_pem("early.example", new_key()), "ott": early})
    finally:
        server.stop()
    assert len(serials) >= 2, server.log()
    assert failures == 0
    assert signed.status_code == 201, signed.text
    assert "renewing the server certificate" in server.log()
