"""hardware/softhsm-tests/ceremony-demo.sh: the example YubiHSM ceremony files,
run on SoftHSM2 tokens of the script's own (dates shifted to now, so the test
does not expire with the examples), give a root, an intermediate on the online
token only, and a root CRL that openssl accepts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from appliance.ceremony import verify_transcript
from tests.conftest import APPLIANCE, run_openssl

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "hardware" / "softhsm-tests" / "ceremony-demo.sh"


def run_demo(out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The demo with the command line of the environment running the tests (a
    worktree has no .venv of its own, and its bin need not be on PATH)."""
    return subprocess.run([str(DEMO), "--shift-dates", str(out)], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "APPLIANCE": str(APPLIANCE), **(env or {})})


@pytest.mark.hsm
@pytest.mark.slow
def test_ceremony_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_demo(out)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("root.crt", "intermediate.crt", "root.crl", "transcript.jsonl"):
        assert (out / name).is_file(), name
    run_openssl("verify", "-x509_strict", "-CAfile", out / "root.crt", out / "intermediate.crt")
    listing = run_openssl("crl", "-inform", "DER", "-in", out / "root.crl", "-CAfile", out / "root.crt",
                          "-noout", "-verify", "-text").stdout
    assert "7A3F09C15E000001" in listing and "0BADC0DE" in listing
    crl = x509.load_der_x509_crl((out / "root.crl").read_bytes())
    assert {r.serial_number for r in crl} == {0x7A3F09C15E000001, 0x0BADC0DE}
    assert verify_transcript(out / "transcript.jsonl").entries == 7

    env = {"SOFTHSM2_CONF": str(out / "softhsm2.conf"), "PATH": "/usr/bin:/bin"}
    objects = {}
    for token in ("root-hsm", "online-hsm"):
        pin = (out / "pins" / f"{token}.pin").read_text().strip()
        objects[token] = subprocess.run(
            ["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", token,
             "--login", "--pin", pin, "--list-objects"], capture_output=True, text=True, check=True, env=env,
        ).stdout
    assert "root-ca-key" in objects["root-hsm"] and "intermediate-ca-key" not in objects["root-hsm"]
    assert "intermediate-ca-key" in objects["online-hsm"] and "root-ca-key" not in objects["online-hsm"]

    again = run_demo(out)
    assert again.returncode == 1 and "already holds a ceremony" in again.stderr


def test_the_demo_says_where_the_command_line_is_missing(tmp_path: Path) -> None:
    """Without $APPLIANCE, a .venv in the checkout or `appliance` on PATH: a clear error."""
    if (REPO / ".venv" / "bin" / "appliance").exists():
        pytest.skip("this checkout has a .venv: the demo uses it")
    result = run_demo(tmp_path / "demo", {"APPLIANCE": "", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "no appliance command" in result.stderr
