"""``appliance init --ssh``: SSH CA keys (softkms files), their public keys in step-ca's
layout, SSH on the first provisioner; the CA it writes signs SSH certificates."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.testclient import TestClient

from appliance.api import create_app
from appliance.cli.main import cli
from appliance.jose import decrypt_jwk, sign
from appliance.server.runtime import load_runtime
from appliance.sshcert import key_blob, key_from_authorized, parse_certificate


def test_init_ssh_makes_a_working_ssh_ca(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("pw\n")
    result = CliRunner().invoke(cli, ["init", "--path", str(tmp_path / "ca"), "--name", "T", "--dns", "ca.test",
                                      "--address", "127.0.0.1:9443", "--provisioner", "admin", "--ssh",
                                      "--password-file", str(tmp_path / "password")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "ca" / "config" / "ca.json").read_text())
    assert data["ssh"] == {"userKey": str(tmp_path / "ca" / "secrets" / "ssh_user_ca_key"),
                           "hostKey": str(tmp_path / "ca" / "secrets" / "ssh_host_ca_key")}
    provisioner = data["authority"]["provisioners"][0]
    assert provisioner["claims"] == {"enableSSHCA": True}
    user_ca = key_from_authorized((tmp_path / "ca" / "certs" / "ssh_user_ca_key.pub").read_text())

    runtime = load_runtime(tmp_path / "ca" / "config" / "ca.json", b"pw")
    try:
        client = TestClient(create_app(runtime.authority), base_url="https://ca.test")
        assert client.get("/ssh/roots").json()["userKey"] == [base64.b64encode(key_blob(user_ca)).decode()]
        import time
        import uuid
        now = int(time.time())
        token = sign({"iss": "admin", "sub": "alice", "aud": "https://ca.test:9443/1.0/ssh/sign", "nbf": now,
                      "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
                      "sha": runtime.authority.root_fingerprint, "step": {"ssh": {"certType": "user"}}},
                     decrypt_jwk(provisioner["encryptedKey"], b"pw"))
        key = ed25519.Ed25519PrivateKey.generate().public_key()
        response = client.post("/ssh/sign", json={"publicKey": base64.b64encode(key_blob(key)).decode(),
                                                  "ott": token})
        assert response.status_code == 201, response.text
        certificate = parse_certificate(response.json()["crt"])
        assert key_blob(certificate.signature_key()) == key_blob(user_ca)  # type: ignore[arg-type]
    finally:
        runtime.close()
