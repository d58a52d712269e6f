"""The server certificate is replaced before it expires, by a new generation of
workers on the same socket, without a failed request in between. The supervisor
runs on a clock the test moves (an offset in a file), so the renewals happen when
the test says, not when the wall clock (or a loaded machine) decides."""

from __future__ import annotations

import datetime
import socket
import ssl
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.e2e.harness import CA, Server, csr_pem, init_ca, launch, new_key, token

pytestmark = pytest.mark.slow
LIFETIME = datetime.timedelta(hours=1)  # renewed at 2/3: after 40 min on the supervisor's clock
RENEWAL_TIMEOUT = 120.0  # a new generation starting on a loaded machine

SERVE = """
import datetime, sys
from pathlib import Path
from appliance.server.supervisor import ServeOptions, serve
from appliance.cli.options import read_password_file
from appliance.pki.clock import utc_now

def clock():
    return utc_now() + datetime.timedelta(seconds=float(Path(sys.argv[4]).read_text()))

serve(ServeOptions(Path(sys.argv[1]), read_password_file(sys.argv[2]), workers=1,
                   server_certificate_lifetime=datetime.timedelta(seconds=int(sys.argv[3])), clock=clock))
"""


def _served_certificate(ca: CA) -> x509.Certificate:
    context = ssl.create_default_context(cafile=str(ca.root))
    with socket.create_connection(("127.0.0.1", ca.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _next_certificate(server: Server, client: httpx.Client, seen: set[int]) -> int:
    """Poll until a certificate whose serial is not in ``seen`` is served (a retiring
    generation may still answer with an older one for a moment) and add it to
    ``seen``; how many health checks failed meanwhile."""
    failures = 0
    deadline = time.monotonic() + RENEWAL_TIMEOUT
    while (served := _served_certificate(server.ca)).serial_number in seen:
        assert time.monotonic() < deadline, f"not renewed:\n{server.log()}"
        try:
            failures += client.get("/health").status_code != 200
        except httpx.HTTPError:
            failures += 1
        time.sleep(0.05)
    seen.add(served.serial_number)
    return failures


def _launch(tmp_path: Path) -> tuple[CA, Server, Path]:
    """A CA served on a supervisor clock set by the file returned (an offset in seconds)."""
    ca = init_ca(tmp_path)
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    server = launch(ca, [sys.executable, "-c", SERVE, str(ca.ca_json), str(ca.password_file),
                         str(int(LIFETIME.total_seconds())), str(offset)])
    return ca, server, offset


def test_server_certificate_is_renewed_without_downtime(tmp_path: Path) -> None:
    ca, server, offset = _launch(tmp_path)
    try:
        early = token(ca, "early.example")  # still valid after the renewals: the CA did not restart
        seen = {_served_certificate(ca).serial_number}
        with ca.client() as client:
            offset.write_text(str((LIFETIME * 2 / 3).total_seconds() + 60))
            failures = _next_certificate(server, client, seen)
            # the second certificate was issued 41 min "late": due after 2/3 of its remaining 19 min
            offset.write_text(str((LIFETIME * 2 / 3 + LIFETIME * 19 / 60 * 2 / 3).total_seconds() + 120))
            more_failures = _next_certificate(server, client, seen)
            signed = client.post("/sign", json={"csr": csr_pem("early.example", new_key()), "ott": early})
    finally:
        server.stop()
    assert failures == more_failures == 0
    assert signed.status_code == 201, signed.text
    assert server.log().count("renewing the server certificate") == 2  # nothing more was due


def test_a_generation_that_fails_to_start_is_tried_again(tmp_path: Path) -> None:
    """While ca.json is broken the new workers exit; the running ones keep serving,
    and once it is mended the renewal is tried again after the retry delay (a quarter
    of the 19 min left: the retry bound, 60 s, on the supervisor's clock)."""
    ca, server, offset = _launch(tmp_path)
    good = ca.ca_json.read_text()
    try:
        seen = {_served_certificate(ca).serial_number}
        ca.ca_json.write_text('{"root": ')
        offset.write_text(str((LIFETIME * 2 / 3).total_seconds() + 60))
        deadline = time.monotonic() + RENEWAL_TIMEOUT
        while "trying again in 60 s" not in server.log():
            assert time.monotonic() < deadline, f"no failed renewal:\n{server.log()}"
            time.sleep(0.1)
        ca.ca_json.write_text(good)
        assert _served_certificate(ca).serial_number in seen
        with ca.client() as client:
            assert client.get("/health").status_code == 200
            offset.write_text(str((LIFETIME * 2 / 3).total_seconds() + 60 + 61))
            failures = _next_certificate(server, client, seen)
    finally:
        server.stop()
    assert failures == 0
    assert "new workers failed to start (workers exited with" in server.log()
