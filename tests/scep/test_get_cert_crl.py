"""GetCert and GetCRL (RFC 8894 sections 3.3.4 and 3.3.5) with the openssl client: the holder
of a certificate this CA issued gets any certificate it issued by issuer and serial number
(``badCertId`` when unknown) and the CA's current CRL, each in a degenerate PKCS#7 encrypted
to it; anybody else is refused. ``openssl`` checks what comes back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.ca_fixtures import build_ca
from tests.scep.conftest import CHALLENGE, ScepEnv, add_provisioners, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient
from tests.scep.test_openssl_client import post

pytestmark = pytest.mark.slow

GET_CERT, GET_CRL = "21", "22"


@pytest.fixture(scope="module")
def crl_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScepEnv]:
    ca = build_ca(tmp_path_factory.mktemp("scep-crl"), intermediate_kind="RSA", crl={"enabled": True})
    add_provisioners(ca, scep_provisioner())
    started = start_scep(ca)
    yield started
    started.close()


def _enrolled(env: ScepEnv, work: Path, cn: str) -> tuple[OpensslClient, x509.Certificate]:
    """An openssl client holding a certificate of this CA (``mine.pem``, key ``key.pem``)."""
    client = OpensslClient(work, cn=cn)
    reply = client.read_reply(post(env, client.request(env.ca.intermediate_path, CHALLENGE)).content,
                              env.ca.root_path)
    assert reply["pkiStatus"] == "0"
    shutil.copy(reply["certificate"], work / "mine.pem")
    return client, x509.load_pem_x509_certificate((work / "mine.pem").read_bytes())


def _issuer_and_serial(issuer: x509.Name, serial: int) -> bytes:
    return cms.IssuerAndSerialNumber({"issuer": asn1_x509.Name.load(issuer.public_bytes()),
                                      "serial_number": serial}).dump()


def _ask(env: ScepEnv, client: OpensslClient, message_type: str, issuer: x509.Name, serial: int,
         signer: tuple[str, str] = ("key.pem", "mine.pem")) -> dict[str, str]:
    message = client.request(env.ca.intermediate_path, "", message_type=message_type,
                             payload=_issuer_and_serial(issuer, serial), signer=signer)
    return client.read_reply(post(env, message).content, env.ca.root_path, recipient=signer[1])


def test_get_cert_returns_a_certificate_this_ca_issued(crl_env: ScepEnv, tmp_path: Path) -> None:
    env = crl_env
    client, _ = _enrolled(env, tmp_path / "a", "device-a")
    _, other = _enrolled(env, tmp_path / "b", "device-b")
    before = env.issued()
    reply = _ask(env, client, GET_CERT, env.ca.intermediate.subject, other.serial_number)
    assert (reply["messageType"], reply["pkiStatus"]) == ("3", "0")
    assert x509.load_pem_x509_certificate(Path(reply["certificate"]).read_bytes()) == other
    unknown = _ask(env, client, GET_CERT, env.ca.intermediate.subject, 4242)
    assert (unknown["pkiStatus"], unknown["failInfo"]) == ("2", "4")  # badCertId
    foreign = _ask(env, client, GET_CERT, env.ca.root.subject, other.serial_number)
    assert (foreign["pkiStatus"], foreign["failInfo"]) == ("2", "4")
    # signed by a self-signed certificate, not one of this CA's: refused
    stranger = _ask(env, client, GET_CERT, env.ca.intermediate.subject, other.serial_number,
                    signer=("key.pem", "self.pem"))
    assert (stranger["pkiStatus"], stranger["failInfo"]) == ("2", "2")
    assert env.issued() == before


def test_get_crl_returns_the_current_crl(crl_env: ScepEnv, tmp_path: Path) -> None:
    env = crl_env
    client, mine = _enrolled(env, tmp_path / "a", "crl-reader")
    revoked_client, revoked = _enrolled(env, tmp_path / "b", "crl-revoked")
    env.authority.revoke_authorized(str(revoked.serial_number), 1, "keyCompromise", "scep")
    reply = _ask(env, client, GET_CRL, env.ca.intermediate.subject, mine.serial_number)
    assert reply["pkiStatus"] == "0"
    crl_pem = Path(reply["certificate"]).read_bytes()
    assert b"-----BEGIN X509 CRL-----" in crl_pem
    crl = x509.load_pem_x509_crl(crl_pem)
    assert crl.public_bytes(serialization.Encoding.DER) == env.authority.crl()
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    checked = subprocess.run(["openssl", "crl", "-in", reply["certificate"], "-CAfile", str(env.ca.intermediate_path),
                              "-noout", "-verify"], capture_output=True, text=True)
    assert checked.returncode == 0 and "verify OK" in checked.stdout + checked.stderr
    # the holder of the revoked certificate is refused
    refused = _ask(env, revoked_client, GET_CRL, env.ca.intermediate.subject, mine.serial_number)
    assert (refused["pkiStatus"], refused["failInfo"]) == ("2", "2")


def test_get_crl_without_a_crl_is_a_failure(env: ScepEnv, tmp_path: Path) -> None:
    client, mine = _enrolled(env, tmp_path / "a", "no-crl")
    reply = _ask(env, client, GET_CRL, env.ca.intermediate.subject, mine.serial_number)
    assert (reply["pkiStatus"], reply["failInfo"]) == ("2", "2")
