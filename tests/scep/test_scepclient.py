"""micromdm's scepclient (Debian package ``scep``) against the appliance over plain HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.scep.conftest import CHALLENGE, ScepEnv, openssl_verify

pytestmark = pytest.mark.slow


def scepclient(url: str, work: Path, challenge: str, cn: str) -> subprocess.CompletedProcess[str]:
    work.mkdir()
    return subprocess.run(["scepclient", "-server-url", url, "-challenge", challenge, "-cn", cn,
                           "-private-key", str(work / "key.pem"), "-certificate", str(work / "cert.pem")],
                          capture_output=True, text=True, cwd=work, timeout=60)


@pytest.mark.parametrize("path", ["/scep/scep", "/1.0/scep/scep", "/scep/scep/pkiclient.exe"])
def test_scepclient_enrols_and_the_certificate_verifies(env: ScepEnv, tmp_path: Path, path: str) -> None:
    before = env.issued()
    result = scepclient(env.http.url(path), tmp_path / "client", CHALLENGE, "router-1.example.test")
    assert result.returncode == 0, result.stdout + result.stderr
    certificate = x509.load_pem_x509_certificate((tmp_path / "client" / "cert.pem").read_bytes())
    assert certificate.subject.rfc4514_string().startswith("CN=router-1.example.test")
    assert certificate.issuer == env.ca.intermediate.subject
    openssl_verify(env.ca, tmp_path / "client" / "cert.pem")
    assert env.issued() == before + 1


def test_a_wrong_challenge_fails_cleanly_and_issues_nothing(env: ScepEnv, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    before = env.issued()
    result = scepclient(env.url(), tmp_path / "client", "not-the-challenge", "intruder")
    assert result.returncode != 0
    assert "failInfo: badRequest" in result.stdout + result.stderr
    assert not (tmp_path / "client" / "cert.pem").exists()
    assert env.issued() == before
    assert "not-the-challenge" not in caplog.text and CHALLENGE not in caplog.text
