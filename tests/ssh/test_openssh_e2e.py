"""The SSH CA against real OpenSSH: ``sshd`` on loopback trusts the user CA key (held in
SoftHSM2 through PKCS#11) and presents a host certificate signed by the host CA key
(softkms); ``ssh`` logs in with a user certificate held in a real ``ssh-agent`` and checks
the host through ``@cert-authority``; once the certificate is revoked and sshd's
``RevokedKeys`` file is refreshed from ``/ssh/krl``, the same login is refused.

The CA runs in-process (its real HTTP app); the OpenSSH programs are Debian's. sshd's
``TrustedUserCAKeys`` file and the client's ``known_hosts`` are the CA's ``/ssh/config`` outputs
(host and user), written by the writer ``appliance ssh config`` uses."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.client.ssh_agent import SshAgent
from appliance.client.ssh_config import ConfigOutput, Destination, write_output
from appliance.sshcert import SSHPublicKey, authorized_key, key_from_authorized, key_from_blob, parse_certificate
from tests.conftest import SoftHSMToken
from tests.ssh.conftest import SshCA
from tests.ssh.openssh import keygen, running_agent, running_sshd

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


def _write_config(ssh_ca: SshCA, kind: str, data: dict[str, str], root: Path) -> dict[str, Path]:
    """``appliance ssh config [--host] --dir root``: the CA's outputs written; their paths by name."""
    response = ssh_ca.client.post("/ssh/config", content=json.dumps({"type": kind, "data": data}))
    assert response.status_code == 200, response.text
    destination = Destination(home=root, base=root / ".appliance", root=root)
    return {o["name"]: write_output(ConfigOutput.from_json(o), destination, ssh_ca.clock.now())
            for o in response.json()[f"{kind}Key"]}


def key_from_authorized_blob(blob_b64: str) -> SSHPublicKey:
    """A key as /ssh/roots lists it (wire form, base64)."""
    return key_from_blob(base64.b64decode(blob_b64))


def _certify(ssh_ca: SshCA, key_file: Path, subject: str, cert_type: str, principals: list[str]) -> int:
    key = key_from_authorized(key_file.with_suffix(".pub").read_text())
    response = ssh_ca.sign(key, subject, ssh={"certType": cert_type, "keyID": subject, "principals": principals})
    assert response.status_code == 201, response.text
    certificate = parse_certificate(response.json()["crt"])
    Path(f"{key_file}-cert.pub").write_bytes(certificate.public_bytes() + b"\n")
    return certificate.serial


@pytest.fixture
def ssh_ca_on_hsm(make_ssh_ca: Callable[..., SshCA], softhsm_token: SoftHSMToken) -> SshCA:
    uri = (f"pkcs11:module-path={softhsm_token.module};token={softhsm_token.label};id=5353;object=ssh-user-ca"
           f"?pin-value={softhsm_token.pin}")
    from appliance.kms import KeyType, open_key_manager
    with open_key_manager(uri) as manager:
        manager.create_key(uri, KeyType.EC_P256)
    return make_ssh_ca(user_key_uri=uri)


@pytest.fixture
def sshd(tmp_path: Path, ssh_ca_on_hsm: SshCA) -> Iterator[tuple[int, Path]]:
    """A real sshd on loopback; yields its port and its RevokedKeys file."""
    ssh_ca = ssh_ca_on_hsm
    host_key = keygen(tmp_path / "ssh_host_ed25519_key")
    _certify(ssh_ca, host_key, "127.0.0.1", "host", ["127.0.0.1", "localhost"])
    user_ca = _write_config(ssh_ca, "host", {"Certificate": f"{host_key.name}-cert.pub", "Key": host_key.name},
                            tmp_path / "host")["ca.tpl"]
    krl = tmp_path / "revoked.krl"
    krl.write_bytes(ssh_ca.client.get("/ssh/krl").content)
    with running_sshd(tmp_path, host_key, user_ca, krl) as port:
        yield port, krl


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    with running_agent(tmp_path) as environment:
        yield environment


def _login(port: int, known_hosts: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-p", str(port), "-o", f"UserKnownHostsFile={known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey",
         "-o", "GlobalKnownHostsFile=/dev/null", "root@127.0.0.1", "echo", "logged-in-as-$(id -un)"],
        env=env, capture_output=True, text=True, timeout=60)


def test_login_with_a_user_certificate_then_refused_after_revocation(
        tmp_path: Path, ssh_ca_on_hsm: SshCA, sshd: tuple[int, Path], agent: dict[str, str]) -> None:
    ssh_ca = ssh_ca_on_hsm
    port, krl = sshd
    host_ca = ssh_ca.client.get("/ssh/roots").json()["hostKey"][0]
    known_hosts = _write_config(ssh_ca, "user", {"StepPath": str(tmp_path / "client")},
                                tmp_path / "client")["known_hosts.tpl"]
    assert known_hosts.read_text() == f"@cert-authority * {authorized_key(key_from_authorized_blob(host_ca))}\n"

    user_key = keygen(tmp_path / "id_ed25519")
    serial = _certify(ssh_ca, user_key, "root", "user", ["root"])
    listing = subprocess.run(["ssh-keygen", "-L", "-f", f"{user_key}-cert.pub"], check=True, capture_output=True,
                             text=True).stdout
    assert "user certificate" in listing and "root" in listing
    # into the real ssh-agent through the appliance's agent client (what `appliance ssh login` does)
    private = serialization.load_ssh_private_key(user_key.read_bytes(), None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    SshAgent(agent["SSH_AUTH_SOCK"]).add_certificate(
        private, parse_certificate(Path(f"{user_key}-cert.pub").read_text()), "root", lifetime=3600)
    assert "(ED25519-CERT)" in subprocess.run(["ssh-add", "-l"], env=agent, capture_output=True, text=True).stdout

    login = _login(port, known_hosts, agent)
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "logged-in-as-root"

    # A host key the CA did not certify: ssh refuses it under the same known_hosts.
    wrong = tmp_path / "known_hosts.other"
    other_ca = key_from_authorized(keygen(tmp_path / "other_ca").with_suffix(".pub").read_text())
    wrong.write_text(f"@cert-authority * {authorized_key(other_ca)}\n")
    assert _login(port, wrong, agent).returncode != 0

    revoked = ssh_ca.client.post("/ssh/revoke", content=json.dumps(
        {"serial": str(serial), "ott": ssh_ca.token(str(serial), endpoint="ssh/revoke")}))
    assert revoked.status_code == 200, revoked.text
    krl.write_bytes(ssh_ca.client.get("/ssh/krl").content)  # the KRL refresh an operator's timer does
    refused = _login(port, known_hosts, agent)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
