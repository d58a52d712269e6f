"""The SSHPOP provisioner: /ssh/renew, /ssh/rekey and /ssh/revoke with a token signed by the
key of a host certificate this CA issued (``sshpop`` header), checked by ssh-keygen."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate
from jwcrypto.jwk import JWK

from appliance.jose import sign
from appliance.sshcert import certificate_blob, key_blob, parse_certificate
from tests.ssh.conftest import SshCA


@pytest.fixture
def pop_ca(make_ssh_ca: Callable[..., SshCA]) -> SshCA:
    return make_ssh_ca(sshpop=True)


def _host(ssh_ca: SshCA, name: str = "web.internal") -> tuple[SSHCertificate, ed25519.Ed25519PrivateKey]:
    key = ed25519.Ed25519PrivateKey.generate()
    response = ssh_ca.sign(key.public_key(), name, ssh={"certType": "host", "principals": [name]},
                           validBefore="48h")
    assert response.status_code == 201, response.text
    return parse_certificate(response.json()["crt"]), key


def _pop_token(ssh_ca: SshCA, certificate: SSHCertificate, key: Any, endpoint: str, subject: str = "") -> str:
    now = int(ssh_ca.clock.now().timestamp())
    claims = {"iss": "sshpop", "sub": subject or str(certificate.serial), "nbf": now, "iat": now, "exp": now + 300,
              "aud": f"https://ca.test:9000/1.0/{endpoint}#sshpop/sshpop", "jti": uuid.uuid4().hex}
    return sign(claims, JWK.from_pyca(key), headers={"sshpop": base64.b64encode(certificate_blob(certificate)).decode()})


def test_renew_then_rekey_a_host_certificate(pop_ca: SshCA, tmp_path: Path) -> None:
    old, key = _host(pop_ca)
    renewed = pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": _pop_token(pop_ca, old, key, "ssh/renew")}))
    assert renewed.status_code == 201, renewed.text
    new = parse_certificate(renewed.json()["crt"])
    assert new.serial != old.serial and key_blob(new.public_key()) == key_blob(old.public_key())  # type: ignore[arg-type]
    assert new.valid_before - new.valid_after == old.valid_before - old.valid_after
    assert new.valid_principals == old.valid_principals and new.key_id == old.key_id
    path = tmp_path / "renewed-cert.pub"
    path.write_bytes(new.public_bytes() + b"\n")
    listing = subprocess.run(["ssh-keygen", "-L", "-f", str(path)], check=True, capture_output=True, text=True).stdout
    assert "host certificate" in listing and "web.internal" in listing

    new_key = ed25519.Ed25519PrivateKey.generate()
    rekeyed = pop_ca.client.post("/ssh/rekey", content=json.dumps({
        "ott": _pop_token(pop_ca, new, key, "ssh/rekey"),
        "publicKey": base64.b64encode(key_blob(new_key.public_key())).decode()}))
    assert rekeyed.status_code == 201, rekeyed.text
    assert key_blob(parse_certificate(rekeyed.json()["crt"]).public_key()) == key_blob(  # type: ignore[arg-type]
        new_key.public_key())


def test_refused_tokens(pop_ca: SshCA) -> None:
    old, key = _host(pop_ca)
    other = ed25519.Ed25519PrivateKey.generate()
    cases = {
        "signed by another key": _pop_token(pop_ca, old, other, "ssh/renew"),
        "for /ssh/rekey": _pop_token(pop_ca, old, key, "ssh/rekey"),
    }
    for name, token in cases.items():
        response = pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": token}))
        assert response.status_code == 401, (name, response.text)
    user_key = ed25519.Ed25519PrivateKey.generate()
    user = parse_certificate(pop_ca.sign(user_key.public_key(), "alice").json()["crt"])
    response = pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": _pop_token(pop_ca, user, user_key,
                                                                                         "ssh/renew")}))
    assert response.status_code == 400 and "must be a host ssh certificate" in response.json()["message"]
    token = _pop_token(pop_ca, old, key, "ssh/renew")
    assert pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": token})).status_code == 201
    replay = pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": token}))
    assert replay.status_code == 401 and "already used" in replay.json()["message"]


def test_a_certificate_this_ca_did_not_issue(pop_ca: SshCA) -> None:
    from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType
    key = ed25519.Ed25519PrivateKey.generate()
    forged = (SSHCertificateBuilder().public_key(key.public_key()).serial(7).type(SSHCertificateType.HOST)
              .key_id(b"x").valid_principals([b"x"]).valid_after(0).valid_before(2**40)
              .sign(ed25519.Ed25519PrivateKey.generate()))
    response = pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": _pop_token(pop_ca, forged, key,
                                                                                         "ssh/renew")}))
    assert response.status_code == 401 and "not issued by this CA" in response.json()["message"]


def test_revoke_with_sshpop_then_no_renewal(pop_ca: SshCA) -> None:
    old, key = _host(pop_ca)
    revoked = pop_ca.client.post("/ssh/revoke", content=json.dumps({
        "serial": str(old.serial), "ott": _pop_token(pop_ca, old, key, "ssh/revoke")}))
    assert revoked.status_code == 200, revoked.text
    renew = pop_ca.client.post("/ssh/renew", content=json.dumps({"ott": _pop_token(pop_ca, old, key, "ssh/renew")}))
    assert renew.status_code == 401 and "revoked" in renew.json()["message"]
