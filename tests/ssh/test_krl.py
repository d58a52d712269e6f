"""/ssh/revoke (by serial and by key) and /ssh/krl, checked against OpenSSH's own reader
(``ssh-keygen -Q``) and differentially against a KRL made by ``ssh-keygen -k``."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.api import create_app
from appliance.authority.authority import Authority
from appliance.db import open_database
from appliance.sshcert import authorized_key, fingerprint, key_blob, parse_certificate
from tests.ssh.conftest import SshCA


def _issue(ssh_ca: SshCA, tmp_path: Path, name: str, cert_type: str = "user") -> tuple[Path, int, object]:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    response = ssh_ca.sign(key, name, ssh={"certType": cert_type, "keyID": name, "principals": [name]})
    assert response.status_code == 201, response.text
    certificate = parse_certificate(response.json()["crt"])
    path = tmp_path / f"{name}-cert.pub"
    path.write_bytes(certificate.public_bytes() + b"\n")
    return path, certificate.serial, key


def _revoke(ssh_ca: SshCA, **body: str) -> object:
    subject = body.get("serial") or body.pop("subject")
    return ssh_ca.client.post("/ssh/revoke", content=json.dumps(
        {"ott": ssh_ca.token(subject, endpoint="ssh/revoke"), **body}))


def _query(krl: Path, certificate: Path) -> bool:
    """True if ``ssh-keygen -Q`` finds the certificate revoked."""
    result = subprocess.run(["ssh-keygen", "-Q", "-f", str(krl), str(certificate)], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 1 and "REVOKED" in result.stdout


def _dump(krl: Path) -> list[str]:
    """``ssh-keygen -Q -l``: what the KRL revokes, without its version and date."""
    out = subprocess.run(["ssh-keygen", "-Q", "-l", "-f", str(krl)], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and not line.startswith(("# KRL version", "# Generated at"))]


def test_krl_lists_exactly_the_revoked(ssh_ca: SshCA, tmp_path: Path) -> None:
    alice, alice_serial, _ = _issue(ssh_ca, tmp_path, "alice")
    bob, _, _ = _issue(ssh_ca, tmp_path, "bob")
    carol, _, carol_key = _issue(ssh_ca, tmp_path, "carol")
    host, host_serial, _ = _issue(ssh_ca, tmp_path, "web.internal", "host")
    other, _, _ = _issue(ssh_ca, tmp_path, "db.internal", "host")
    assert _revoke(ssh_ca, serial=str(alice_serial), reason="left").json() == {"status": "ok"}
    assert _revoke(ssh_ca, serial=str(host_serial)).status_code == 200
    by_key = _revoke(ssh_ca, subject=fingerprint(carol_key),
                     publicKey=base64.b64encode(key_blob(carol_key)).decode())
    assert by_key.status_code == 200, by_key.text

    response = ssh_ca.client.get("/1.0/ssh/krl")
    assert response.status_code == 200
    krl = tmp_path / "krl"
    krl.write_bytes(response.content)
    assert [_query(krl, path) for path in (alice, bob, carol, host, other)] == [True, False, True, True, False]

    # The same revocations given to ssh-keygen -k: the same KRL contents.
    (tmp_path / "user_ca.pub").write_text(authorized_key(ssh_ca.user_key.public_key()) + "\n")
    (tmp_path / "host_ca.pub").write_text(authorized_key(ssh_ca.host_key.public_key()) + "\n")
    (tmp_path / "carol.pub").write_text(authorized_key(carol_key) + "\n")
    (tmp_path / "user.spec").write_text(f"serial: {alice_serial}\n")
    (tmp_path / "host.spec").write_text(f"serial: {host_serial}\n")
    reference = tmp_path / "reference.krl"
    subprocess.run(["ssh-keygen", "-k", "-f", str(reference), "-s", str(tmp_path / "user_ca.pub"),
                    str(tmp_path / "user.spec")], check=True, capture_output=True)
    for ca, spec in (("host_ca.pub", "host.spec"), (None, "carol.pub")):
        subprocess.run(["ssh-keygen", "-k", "-u", "-f", str(reference), *(["-s", str(tmp_path / ca)] if ca else []),
                        str(tmp_path / spec)], check=True, capture_output=True)
    assert sorted(_dump(krl)) == sorted(_dump(reference))


def test_revoked_twice_and_foreign_serials(ssh_ca: SshCA, tmp_path: Path) -> None:
    _, serial, key = _issue(ssh_ca, tmp_path, "alice")
    assert _revoke(ssh_ca, serial=str(serial)).status_code == 200
    again = _revoke(ssh_ca, serial=str(serial))
    assert again.status_code == 400 and "already revoked" in again.json()["message"]
    unknown = _revoke(ssh_ca, serial="12345")
    assert unknown.status_code == 400 and "not issued by this CA" in unknown.json()["message"]
    wrong_subject = ssh_ca.client.post("/ssh/revoke", content=json.dumps(
        {"ott": ssh_ca.token("999", endpoint="ssh/revoke"), "serial": str(serial)}))
    assert wrong_subject.status_code == 401


def test_revoked_key_gets_no_new_certificate(ssh_ca: SshCA, tmp_path: Path) -> None:
    _, _, key = _issue(ssh_ca, tmp_path, "alice")
    assert _revoke(ssh_ca, subject=fingerprint(key), publicKey=base64.b64encode(key_blob(key)).decode()
                   ).status_code == 200
    response = ssh_ca.sign(key, "alice")
    assert response.status_code == 403 and "revoked" in response.json()["message"]


def test_krl_current_across_workers(ssh_ca: SshCA, tmp_path: Path) -> None:
    """A second worker on the same database serves a revocation the first recorded."""
    from starlette.testclient import TestClient
    config = ssh_ca.ca.config()
    other = Authority.from_config(config, open_database(config.db), password=ssh_ca.ca.password)
    try:
        other_client = TestClient(create_app(other), base_url="https://ca.test")
        _, serial, _ = _issue(ssh_ca, tmp_path, "alice")
        before = other_client.get("/ssh/krl").content
        assert _revoke(ssh_ca, serial=str(serial)).status_code == 200
        krl = tmp_path / "worker2.krl"
        krl.write_bytes(other_client.get("/ssh/krl").content)
        assert before != krl.read_bytes()
        assert _query(krl, tmp_path / "alice-cert.pub")
    finally:
        other.close()
        other.database.close()
