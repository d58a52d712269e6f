"""``identityCSR`` in ``POST /ssh/sign``: the X.509 identity certificate step-ca issues with
an SSH certificate, authorised by the same (once-spent) token, checked by openssl."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from appliance.sshcert import key_blob, parse_certificate
from tests.ssh.conftest import SshCA

IDENTITY = "alice@example.com"


def identity_csr(common_name: str, *names: x509.GeneralName) -> str:
    """A CSR as step's ``ca.CreateIdentityRequest`` makes it: P-256, CN and SANs."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def sign_body(ca: SshCA, subject: str, cert_type: str, csr: str, token: str | None = None) -> dict[str, Any]:
    ssh = {"certType": cert_type, "keyID": subject, "principals": [subject]}
    return {"publicKey": base64.b64encode(key_blob(ed25519.Ed25519PrivateKey.generate().public_key())).decode(),
            "ott": token or ca.token(subject, ssh=ssh), **ssh, "identityCSR": csr}


def openssl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["openssl", *args], input=stdin, check=True, capture_output=True, text=True).stdout


def openssl_time(text: str) -> int:
    moment = datetime.datetime.strptime(text.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())


def test_user_identity_certificate_matches_the_ssh_certificate(ssh_ca: SshCA, tmp_path: Path) -> None:
    body = sign_body(ssh_ca, IDENTITY, "user", identity_csr(IDENTITY, x509.RFC822Name(IDENTITY)))
    response = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(body))
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"crt", "identityCrt"}
    chain = response.json()["identityCrt"]
    assert len(chain) == 2 and x509.load_pem_x509_certificate(chain[1].encode()) == ssh_ca.ca.intermediate
    (tmp_path / "leaf.crt").write_text(chain[0])
    (tmp_path / "chain.crt").write_text(chain[1])
    assert openssl("verify", "-CAfile", str(ssh_ca.ca.root_path), "-untrusted", str(tmp_path / "chain.crt"),
                   "-purpose", "sslclient", str(tmp_path / "leaf.crt")).strip().endswith("OK")
    text = openssl("x509", "-noout", "-text", "-in", str(tmp_path / "leaf.crt"))
    assert f"CN = {IDENTITY}" in text and f"email:{IDENTITY}" in text
    ssh_certificate = parse_certificate(response.json()["crt"])
    dates = openssl("x509", "-noout", "-startdate", "-enddate", "-in", str(tmp_path / "leaf.crt")).splitlines()
    assert openssl_time(dates[0]) == ssh_certificate.valid_after
    assert openssl_time(dates[1]) == ssh_certificate.valid_before
    again = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(body))  # the token was spent once, for both
    assert again.status_code == 401 and "already used" in again.json()["message"]


def test_host_identity_certificate_carries_the_host_id(ssh_ca: SshCA, tmp_path: Path) -> None:
    """step ssh certificate --host puts a urn:uuid host id first in the CSR; the token does not
    name it, and the certificate carries it (step-ca's identityModifier). The X.509 claims
    bound its validity: a host certificate's default 30 days is refused (403), 12h is not."""
    host_id = f"urn:uuid:{uuid.uuid4()}"
    csr = identity_csr("web.internal", x509.UniformResourceIdentifier(host_id), x509.DNSName("web.internal"))
    body = sign_body(ssh_ca, "web.internal", "host", csr)
    too_long = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(body))
    assert too_long.status_code == 403 and "more than the authorised maximum" in too_long.json()["message"]
    body = {**sign_body(ssh_ca, "web.internal", "host", csr), "validBefore": "12h"}
    response = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(body))
    assert response.status_code == 201, response.text
    (tmp_path / "leaf.crt").write_text(response.json()["identityCrt"][0])
    text = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "leaf.crt"))
    assert f"URI:{host_id}" in text and "DNS:web.internal" in text


def _bad_signature(pem: str) -> str:
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + \
        "-----END CERTIFICATE REQUEST-----\n"


def test_bad_identity_csr_is_400_and_nothing_is_issued(ssh_ca: SshCA) -> None:
    token = ssh_ca.token(IDENTITY, ssh={"certType": "user", "keyID": IDENTITY, "principals": [IDENTITY]})
    good = identity_csr(IDENTITY, x509.RFC822Name(IDENTITY))
    for csr in ("not a csr", _bad_signature(good)):
        response = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(sign_body(ssh_ca, IDENTITY, "user", csr,
                                                                                    token)))
        assert response.status_code == 400 and "invalid identityCSR" in response.json()["message"], response.text
    now = datetime.datetime.now(datetime.timezone.utc)
    assert ssh_ca.authority.ssh.store.certificates("user", now) == []  # type: ignore[union-attr]
    response = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(sign_body(ssh_ca, IDENTITY, "user", good, token)))
    assert response.status_code == 201, response.text  # the token was not spent by the refused requests


def test_identity_names_outside_the_token_are_refused(ssh_ca: SshCA) -> None:
    csr = identity_csr(IDENTITY, x509.RFC822Name(IDENTITY), x509.DNSName("evil.example"))
    response = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(sign_body(ssh_ca, IDENTITY, "user", csr)))
    assert response.status_code == 403 and "evil.example" in response.json()["message"]


def test_null_identity_csr_as_step_sends_it_is_no_identity(ssh_ca: SshCA) -> None:
    """step marshals an absent CSR as ``"identityCSR": null`` (api.CertificateRequest)."""
    body = {**sign_body(ssh_ca, IDENTITY, "user", ""), "identityCSR": None}
    response = ssh_ca.client.post("/1.0/ssh/sign", content=json.dumps(body))
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"crt"}
