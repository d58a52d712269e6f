"""The SCEP decrypter key on a SoftHSM2 token (``decrypterKey`` = pkcs11:...): scepclient
enrols and the openssl client's request opens with C_Decrypt; the EC intermediate issues."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.ca_fixtures import build_ca
from tests.conftest import SoftHSMToken
from tests.scep.conftest import CHALLENGE, add_provisioners, openssl_verify, pem_b64, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient
from tests.scep.test_openssl_client import post

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


def test_scepclient_enrols_with_the_decrypter_key_in_softhsm(softhsm_token: SoftHSMToken, tmp_path: Path) -> None:
    ca = build_ca(tmp_path / "ca")
    subprocess.run(["pkcs11-tool", "--module", softhsm_token.module, "--token-label", softhsm_token.label, "--login",
                    "--pin", softhsm_token.pin, "--keypairgen", "--key-type", "rsa:2048", "--usage-decrypt",
                    "--usage-sign", "--id", "5c", "--label", "scep-decrypter"], check=True, capture_output=True)
    public_pem = subprocess.run(
        ["pkcs11-tool", "--module", softhsm_token.module, "--token-label", softhsm_token.label, "--read-object",
         "--type", "pubkey", "--label", "scep-decrypter"], check=True, capture_output=True).stdout
    public_key = serialization.load_der_public_key(public_pem)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=SCEP decrypter (HSM)"))
                   .issuer_name(ca.intermediate.subject).public_key(public_key)  # type: ignore[arg-type]
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .sign(ca.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]
    key_uri = (f"pkcs11:module-path={softhsm_token.module};token={softhsm_token.label};object=scep-decrypter"
               f"?pin-value={softhsm_token.pin}")
    add_provisioners(ca, scep_provisioner(decrypterCertificate=pem_b64(certificate), decrypterKey=key_uri,
                                          excludeIntermediate=True))
    env = start_scep(ca)
    try:
        cacert = httpx.get(env.url(), params={"operation": "GetCACert"})
        assert x509.load_der_x509_certificate(cacert.content) == certificate
        work = tmp_path / "scepclient"
        work.mkdir()
        result = subprocess.run(["scepclient", "-server-url", env.url(), "-challenge", CHALLENGE, "-cn", "hsm-laptop",
                                 "-private-key", str(work / "key.pem"), "-certificate", str(work / "cert.pem")],
                                capture_output=True, text=True, cwd=work, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        openssl_verify(ca, work / "cert.pem")
        recipient = tmp_path / "decrypter.pem"
        recipient.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        client = OpensslClient(tmp_path / "client")
        reply = client.read_reply(post(env, client.request(recipient, CHALLENGE)).content, ca.root_path)
        assert reply["pkiStatus"] == "0"
        openssl_verify(ca, Path(reply["certificate"]))
        assert env.issued() == 2
    finally:
        env.close()
