"""A refused setting stops ``appliance serve`` at start with an error naming it,
and a SIGHUP reload that adds one is refused while the old configuration serves."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import APPLIANCE, init_ca, start_server

pytestmark = pytest.mark.slow
TIMEOUT = 60.0


def test_serve_refuses_to_start_naming_the_setting(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data["authority"]["type"] = "stepcas"
    ca.write(data)
    result = subprocess.run([str(APPLIANCE), "serve", str(ca.ca_json), "--password-file", str(ca.password_file),
                             "--workers", "1"], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode != 0
    assert "'authority.type' = \"stepcas\"" in result.stderr
    assert "not supported yet" in result.stderr


def test_sighup_refuses_the_setting_and_keeps_serving(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    server = start_server(ca, workers=1)
    try:
        data = ca.data()
        data["authority"]["type"] = "stepcas"
        data["authority"]["certificateIssuer"] = {"type": "jwk", "provisioner": "ra"}
        ca.write(data)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while "reload failed" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        log = server.log()
        assert "'authority.type' = \"stepcas\"" in log
        assert "'authority.certificateIssuer' (registration-authority mode (another CA signs)) is not supported yet" in log
        with ca.client() as client:
            assert client.get("/health").json() == {"status": "ok"}
            names = [p["name"] for p in client.get("/provisioners").json()["provisioners"]]
        assert names == ["admin"]
    finally:
        server.stop()
