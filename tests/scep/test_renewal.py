"""RenewalReq: a request signed by a certificate this provisioner issued (valid, not
revoked) is issued without a challenge, for names within the old certificate's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.scep.conftest import CHALLENGE, ScepEnv, openssl_verify
from tests.scep.openssl_client import OpensslClient
from tests.scep.test_openssl_client import post

pytestmark = pytest.mark.slow

RENEWAL_REQ = "17"


def _enrolled(env: ScepEnv, work: Path, cn: str = "renew-me") -> tuple[OpensslClient, x509.Certificate]:
    """A client holding a certificate from the 'scep' provisioner (in ``work``/old.pem)."""
    client = OpensslClient(work, cn=cn)
    reply = client.read_reply(post(env, client.request(env.ca.intermediate_path, CHALLENGE)).content,
                              env.ca.root_path)
    assert reply["pkiStatus"] == "0"
    Path(reply["certificate"]).rename(work / "old.pem")
    return client, x509.load_pem_x509_certificate((work / "old.pem").read_bytes())


def _renew(env: ScepEnv, client: OpensslClient, signer: tuple[str, str] = ("key.pem", "old.pem"),
           provisioner: str = "scep") -> dict[str, str]:
    message = client.request(env.ca.intermediate_path, "", message_type=RENEWAL_REQ, signer=signer)
    return client.read_reply(post(env, message, provisioner).content, env.ca.root_path, recipient=signer[1])


def test_openssl_client_renews_without_a_challenge(env: ScepEnv, tmp_path: Path) -> None:
    client, old = _enrolled(env, tmp_path / "client")
    before = env.issued()
    reply = _renew(env, client)
    assert reply["pkiStatus"] == "0"
    renewed = x509.load_pem_x509_certificate(Path(reply["certificate"]).read_bytes())
    assert renewed.serial_number != old.serial_number and renewed.subject == old.subject
    openssl_verify(env.ca, Path(reply["certificate"]))
    assert env.issued() == before + 1


def test_renewal_refusals(env: ScepEnv, tmp_path: Path) -> None:
    client, old = _enrolled(env, tmp_path / "client")
    before = env.issued()
    # signed by the self-signed certificate (not one this CA issued)
    assert _renew(env, client, signer=("key.pem", "self.pem"))["failInfo"] == "2"
    # another provisioner's endpoint
    assert _renew(env, client, provisioner="open")["failInfo"] == "2"
    # a name the old certificate does not have
    client.cn = "someone-else"
    assert _renew(env, client)["failInfo"] == "2"
    client.cn = "renew-me"
    # revoked
    env.authority.revoke_authorized(str(old.serial_number), 1, "keyCompromise", "scep")
    assert _renew(env, client)["failInfo"] == "2"
    assert env.issued() == before


def test_scepclient_renews_with_its_certificate(env: ScepEnv, tmp_path: Path) -> None:
    """scepclient 2.1 sends a RenewalReq signed by ``-certificate`` when that file exists."""
    work = tmp_path / "client"
    work.mkdir()
    command = ["scepclient", "-server-url", env.url(), "-cn", "renewing-router", "-private-key",
               str(work / "key.pem"), "-certificate", str(work / "cert.pem")]
    first = subprocess.run([*command, "-challenge", CHALLENGE], capture_output=True, text=True, cwd=work, timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    old = x509.load_pem_x509_certificate((work / "cert.pem").read_bytes())
    before = env.issued()
    second = subprocess.run(command, capture_output=True, text=True, cwd=work, timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    renewed = x509.load_pem_x509_certificate((work / "cert.pem").read_bytes())
    assert renewed.serial_number != old.serial_number
    openssl_verify(env.ca, work / "cert.pem")
    assert env.issued() == before + 1
