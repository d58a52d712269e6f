"""``appliance ca token --ssh``: SSH sign tokens of the X5C and Nebula provisioners
(``--x5c-cert``, ``--nebula-cert``) and SSHPOP tokens (``--renew|--rekey|--revoke
--sshpop-cert --sshpop-key``), taken by the SSH API: certificates checked by
``ssh-keygen -L``, revocation by the KRL (``ssh-keygen -Q``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.cli.main import cli
from appliance.sshcert import parse_certificate
from tests.provisioner.openssl_chain import make_chain
from tests.provisioner.test_nebula import Mesh
from tests.ssh.conftest import SshCA
from tests.ssh.test_provisioner_types import issued, nebula_provisioner, post_sign, x5c_provisioner


@pytest.fixture
def host(make_ssh_ca: Callable[..., SshCA], tmp_path: Path) -> tuple[SshCA, Path, Path]:
    """A CA with an SSHPOP provisioner, and a host certificate and its OpenSSH key on disk."""
    ca = make_ssh_ca(sshpop=True)
    key = ed25519.Ed25519PrivateKey.generate()
    response = ca.sign(key.public_key(), "web.internal", ssh={"certType": "host", "principals": ["web.internal"]},
                       validBefore="48h")
    assert response.status_code == 201, response.text
    certificate_path, key_path = tmp_path / "ssh_host_key-cert.pub", tmp_path / "ssh_host_key"
    certificate_path.write_bytes(parse_certificate(response.json()["crt"]).public_bytes() + b"\n")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    return ca, certificate_path, key_path


def ca_token(ca: SshCA, tmp_path: Path, *args: str, provisioner: str = "sshpop") -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["ca", "token", *args, "--provisioner", provisioner, "--ca-url",
                                      "https://ca.test:9000", "--root", str(ca.ca.root_path)],
                                env={"APPLIANCE_PATH": str(tmp_path / "client")})
    return result.exit_code, result.output.strip()


def test_renew_and_revoke_with_sshpop_tokens_from_ca_token(host: tuple[SshCA, Path, Path], tmp_path: Path) -> None:
    ca, certificate_path, key_path = host
    old = parse_certificate(certificate_path.read_text())
    pop = ("--sshpop-cert", str(certificate_path), "--sshpop-key", str(key_path))
    code, ott = ca_token(ca, tmp_path, "web.internal", "--ssh", "--renew", *pop)
    assert code == 0, ott
    renewed = ca.client.post("/1.0/ssh/renew", content=json.dumps({"ott": ott}))
    assert renewed.status_code == 201, renewed.text
    new = parse_certificate(renewed.json()["crt"])
    assert new.serial != old.serial and new.valid_principals == [b"web.internal"]
    path = tmp_path / "renewed-cert.pub"
    path.write_bytes(new.public_bytes() + b"\n")
    listing = subprocess.run(["ssh-keygen", "-L", "-f", str(path)], check=True, capture_output=True, text=True).stdout
    assert "host certificate" in listing and "web.internal" in listing

    code, ott = ca_token(ca, tmp_path, str(old.serial), "--ssh", "--revoke", *pop)
    assert code == 0, ott
    revoked = ca.client.post("/1.0/ssh/revoke", content=json.dumps({"ott": ott, "serial": str(old.serial),
                                                                    "reasonCode": 1, "passive": True}))
    assert revoked.status_code == 200, revoked.text
    krl = tmp_path / "krl"
    krl.write_bytes(ca.client.get("/1.0/ssh/krl").content)
    checked = subprocess.run(["ssh-keygen", "-Q", "-f", str(krl), str(certificate_path)], capture_output=True,
                             text=True)
    assert checked.returncode != 0 and "REVOKED" in checked.stdout


def test_sshpop_tokens_only_for_the_ssh_endpoints(host: tuple[SshCA, Path, Path], tmp_path: Path) -> None:
    ca, certificate_path, key_path = host
    pop = ("--sshpop-cert", str(certificate_path), "--sshpop-key", str(key_path))
    code, output = ca_token(ca, tmp_path, "web.internal", *pop)
    assert code != 0 and "SSHPOP token is for --ssh" in output
    code, output = ca_token(ca, tmp_path, "web.internal", "--renew", *pop)
    assert code != 0 and "need --ssh" in output
    code, output = ca_token(ca, tmp_path, "web.internal", "--ssh", "--renew", "--sshpop-cert", str(certificate_path))
    assert code != 0 and "go together" in output
    code, output = ca_token(ca, tmp_path, "web.internal", "--ssh", "--renew", "--sshpop-cert", str(key_path),
                            "--sshpop-key", str(key_path))
    assert code != 0 and "sshpop-cert" in output


def test_ssh_sign_tokens_of_x5c_and_nebula(make_ssh_ca: Callable[..., SshCA], tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "x5c")
    mesh = Mesh(tmp_path / "mesh")
    mesh.host("web1.mesh")
    ca = make_ssh_ca(provisioners=(x5c_provisioner(chain), nebula_provisioner(mesh)))
    code, ott = ca_token(ca, tmp_path, "device", "--ssh", "--host", "--principal", "device.internal",
                         "--x5c-cert", str(chain.bundle("device")), "--x5c-key", str(chain.key("device")),
                         provisioner="x5c")
    assert code == 0, ott
    listing = issued(tmp_path, post_sign(ca, ott, "host", "device", ("device.internal",)))
    assert "host certificate" in listing and "device.internal" in listing
    code, ott = ca_token(ca, tmp_path, "web1.mesh", "--ssh", "--host", "--principal", "10.42.0.5",
                         "--nebula-cert", str(mesh.directory / "web1.mesh.crt"),
                         "--nebula-key", str(mesh.directory / "web1.mesh.key"), provisioner="mesh")
    assert code == 0, ott
    listing = issued(tmp_path, post_sign(ca, ott, "host", "", ("10.42.0.5",)))
    assert "host certificate" in listing and "10.42.0.5" in listing
    code, output = ca_token(ca, tmp_path, "device", "--host", provisioner="x5c")
    assert code != 0 and "need --ssh" in output
