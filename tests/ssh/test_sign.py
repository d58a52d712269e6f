"""POST /ssh/sign with the JWK provisioner's SSH token, checked by ssh-keygen -L."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from appliance.sshcert import authorized_key, fingerprint, parse_certificate
from tests.ssh.conftest import SshCA


def keygen_list(tmp_path: Path, crt_b64: str) -> str:
    """``ssh-keygen -L`` of a certificate from a sign response."""
    certificate = parse_certificate(crt_b64)
    path = tmp_path / "id-cert.pub"
    path.write_bytes(certificate.public_bytes() + b"\n")
    return subprocess.run(["ssh-keygen", "-L", "-f", str(path)], check=True, capture_output=True, text=True).stdout


def test_user_certificate_as_step_ca_issues_it(ssh_ca: SshCA, tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    response = ssh_ca.sign(key, "alice")
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"crt"}
    listing = keygen_list(tmp_path, response.json()["crt"])
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in listing
    assert 'Key ID: "alice"' in listing
    assert fingerprint(ssh_ca.user_key.public_key()) in listing  # Signing CA: the user CA key
    principals = listing.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["alice"]
    for extension in ("permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
                      "permit-pty", "permit-user-rc"):
        assert extension in listing
    certificate = parse_certificate(response.json()["crt"])
    assert certificate.valid_before - certificate.valid_after == 16 * 3600 + 60  # 16h default + 1m backdate
    record = ssh_ca.authority.ssh.store.get_certificate(certificate.serial)  # type: ignore[union-attr]
    assert record is not None and record.key_id == "alice" and record.provisioner == ssh_ca.ca.provisioner


def test_host_certificate(ssh_ca: SshCA, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    response = ssh_ca.sign(key, "web.internal", ssh={"certType": "host", "keyID": "web.internal",
                                                    "principals": ["web.internal", "10.0.0.7"]})
    assert response.status_code == 201, response.text
    listing = keygen_list(tmp_path, response.json()["crt"])
    assert "host certificate" in listing
    assert fingerprint(ssh_ca.host_key.public_key()) in listing
    assert "web.internal" in listing and "10.0.0.7" in listing
    assert "Extensions: (none)" in listing
    certificate = parse_certificate(response.json()["crt"])
    assert certificate.valid_before - certificate.valid_after == 30 * 86400 + 60


def test_request_validity_within_claims(make_ssh_ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssh_ca = make_ssh_ca(provisioner={"claims": {"enableSSHCA": True, "maxUserSSHCertDuration": "2h",
                                                        "defaultUserSSHCertDuration": "1h"}})
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    ok = ssh_ca.sign(key, validAfter="-5m", validBefore="1h")
    assert ok.status_code == 201, ok.text
    certificate = parse_certificate(ok.json()["crt"])
    assert certificate.valid_before - certificate.valid_after == 3900
    too_long = ssh_ca.sign(key, validBefore="3h")
    assert too_long.status_code == 403
    assert "more than maximum accepted duration" in too_long.json()["message"]


def test_roots_and_federation(make_ssh_ca) -> None:  # type: ignore[no-untyped-def]
    from appliance.jose import generate_jwk, public_dict
    extra = public_dict(generate_jwk())
    ssh_ca = make_ssh_ca(ssh={"keys": [{"type": "user", "federated": True, "key": extra}]})
    roots = ssh_ca.client.get("/ssh/roots")
    assert roots.status_code == 200
    user_ca = base64.b64decode(roots.json()["userKey"][0])
    assert authorized_key(ssh_ca.user_key.public_key()).split()[1] == base64.b64encode(user_ca).decode()
    assert len(roots.json()["userKey"]) == 1 and len(roots.json()["hostKey"]) == 1
    federation = ssh_ca.client.get("/1.0/ssh/federation").json()
    assert len(federation["userKey"]) == 2 and federation["userKey"][0] == roots.json()["userKey"][0]


def test_template_from_options_ssh(make_ssh_ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    template = ('{"type": {{ toJson .Type }}, "keyId": {{ toJson .KeyID }}, '
                '"principals": {{ toJson (append .Principals .Insecure.User.extra) }}, '
                '"extensions": {"permit-pty": ""}, "criticalOptions": {"source-address": {{ toJson .cidr }}}}')
    ssh_ca = make_ssh_ca(provisioner={"claims": {"enableSSHCA": True},
                                      "options": {"ssh": {"template": template,
                                                          "templateData": {"cidr": "10.0.0.0/8"}}}})
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    response = ssh_ca.sign(key, "alice", templateData={"extra": "ops"})
    assert response.status_code == 201, response.text
    listing = keygen_list(tmp_path, response.json()["crt"])
    assert "source-address 10.0.0.0/8" in listing
    assert "permit-pty" in listing and "permit-agent-forwarding" not in listing
    assert listing.split("Principals:")[1].split("Critical Options:")[0].split() == ["alice", "ops"]


def test_a_relative_ssh_template_file_resolves_against_steppath(make_ssh_ca, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``options.ssh.templateFile`` relative: $STEPPATH's (above config/ca.json), not the working directory's."""
    template = tmp_path / "ca0" / "templates" / "ssh" / "user.tpl"
    template.parent.mkdir(parents=True)
    template.write_text('{"type": {{ toJson .Type }}, "keyId": {{ toJson .KeyID }}, '
                        '"principals": {{ toJson .Principals }}, "extensions": {"permit-pty": ""}, '
                        '"criticalOptions": {"force-command": "from-steppath"}}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ssh_ca = make_ssh_ca(provisioner={"options": {"ssh": {"templateFile": "templates/ssh/user.tpl"}}})
    response = ssh_ca.sign(ed25519.Ed25519PrivateKey.generate().public_key(), "alice")
    assert response.status_code == 201, response.text
    listing = keygen_list(tmp_path, response.json()["crt"])
    assert "force-command from-steppath" in listing


def test_add_user_certificate(ssh_ca: SshCA, tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    add_key = ed25519.Ed25519PrivateKey.generate().public_key()
    from appliance.sshcert import key_blob
    response = ssh_ca.sign(key, "alice", addUserPublicKey=base64.b64encode(key_blob(add_key)).decode())
    assert response.status_code == 201, response.text
    listing = keygen_list(tmp_path, response.json()["addUserCrt"])
    assert 'Key ID: "alice-provisioner"' in listing
    assert "force-command sudo useradd -m alice; nc -q0 localhost 22" in listing
