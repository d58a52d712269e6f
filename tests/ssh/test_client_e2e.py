"""The client's ``ssh proxycommand``, ``ssh certificate --kms`` and ``--identity`` against
``appliance serve`` (``init --ssh``) and Debian's OpenSSH: a real ``sshd`` on loopback trusts
the CA's user key and presents a host certificate from it; the real ``ssh`` logs in through
``-o ProxyCommand=appliance ssh proxycommand ...`` (directly, and through the CA's bastion,
which is the same sshd), with a key on SoftHSM2 (``PKCS11Provider``) or in softkms, each
paired with its certificate file."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509

from appliance.sshcert import authorized_key, parse_certificate
from tests.conftest import APPLIANCE, SoftHSMToken
from tests.e2e.harness import CA, init_ca, start_server
from tests.ssh.openssh import free_port, running_agent, running_sshd

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


@dataclass
class World:
    """The running CA, the sshd that trusts it, and how a client reaches both."""

    ca: CA
    port: int
    known_hosts: Path
    bastion_marker: Path
    directory: Path

    @property
    def ca_flags(self) -> list[str]:
        return ["--ca-url", self.ca.url, "--root", str(self.ca.root)]

    @property
    def provisioner_flags(self) -> list[str]:
        return ["--provisioner", "admin", "--password-file", str(self.ca.password_file)]

    def appliance(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(APPLIANCE), "ssh", *args], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        return result

    def ssh(self, env: dict[str, str], destination: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-F", "/dev/null", "-p", str(self.port), "-o", f"UserKnownHostsFile={self.known_hosts}",
             "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
             "-o", "PreferredAuthentications=publickey", *options, destination, "echo", "in-as-$(id -un)"],
            env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("ssh-client")
    ca = init_ca(directory, "--ssh")
    port = free_port()
    known_hosts = directory / "known_hosts"
    marker = directory / "through-the-bastion"
    data = ca.data()
    data["ssh"]["bastion"] = {  # every host but 127.0.0.1 (the bastion itself) is reached through it
        "hostname": "127.0.0.1", "user": "root", "port": str(port), "cmd": f"touch {marker}; socat - TCP:%h:%p",
        "flags": f"-F /dev/null -o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null "
                 "-o StrictHostKeyChecking=yes -o BatchMode=yes"}
    data["authority"]["provisioners"].append({"type": "SSHPOP", "name": "sshpop", "claims": {"enableSSHCA": True}})
    ca.write(data)
    server = start_server(ca, workers=1)
    try:
        env = {**os.environ, "APPLIANCE_PATH": str(directory / "host-client")}
        host_key = directory / "ssh_host_ecdsa_key"
        common = ["--ca-url", ca.url, "--root", str(ca.root), "--provisioner", "admin",
                  "--password-file", str(ca.password_file)]
        subprocess.run([str(APPLIANCE), "ssh", "certificate", "127.0.0.1", str(host_key), "--host",
                        "--principal", "127.0.0.1", "--principal", "localhost", *common],
                       check=True, capture_output=True, env=env, timeout=60)
        host_ca = (ca.path / "certs" / "ssh_host_ca_key.pub").read_text().split()
        known_hosts.write_text(f"@cert-authority * {host_ca[0]} {host_ca[1]}\n")
        krl = directory / "revoked.krl"
        subprocess.run([str(APPLIANCE), "ssh", "krl", str(krl), "--ca-url", ca.url, "--root", str(ca.root)],
                       check=True, capture_output=True, env=env, timeout=60)
        with running_sshd(directory, host_key, ca.path / "certs" / "ssh_user_ca_key.pub", krl, port):
            yield World(ca, port, known_hosts, marker, directory)
    finally:
        server.stop()


def _client_env(tmp_path: Path, agent: dict[str, str]) -> dict[str, str]:
    return {**agent, "APPLIANCE_PATH": str(tmp_path / "client")}


def _agent_certificates(env: dict[str, str]) -> list[str]:
    listed = subprocess.run(["ssh-add", "-L"], env=env, capture_output=True, text=True).stdout.splitlines()
    return [line for line in listed if "-cert-v01@openssh.com" in line]


def test_proxycommand_logs_in_once_then_goes_direct_or_through_the_bastion(world: World, tmp_path: Path) -> None:
    with running_agent(tmp_path) as agent:
        env = _client_env(tmp_path, agent)
        proxy = " ".join([str(APPLIANCE), "ssh", "proxycommand", "%r", "%h", "%p", *world.provisioner_flags,
                          *world.ca_flags])
        assert _agent_certificates(env) == []
        direct = world.ssh(env, "root@127.0.0.1", "-o", f"ProxyCommand={proxy}", "-o", "BatchMode=yes")
        assert direct.returncode == 0, direct.stderr
        assert direct.stdout.strip() == "in-as-root"
        (certificate,) = _agent_certificates(env)  # proxycommand logged in: the certificate is in the agent
        assert parse_certificate(certificate).valid_principals == [b"root"]
        assert not world.bastion_marker.exists()

        through = world.ssh(env, "root@localhost", "-o", f"ProxyCommand={proxy}", "-o", "BatchMode=yes")
        assert through.returncode == 0, through.stderr
        assert through.stdout.strip() == "in-as-root"
        assert world.bastion_marker.exists()  # the bastion's cmd ran, on the bastion
        assert _agent_certificates(env) == [certificate]  # logged in already: no second certificate


def _askpass(tmp_path: Path, secret: str) -> dict[str, str]:
    """ssh asks for the PIN or passphrase through this program (no terminal)."""
    script = tmp_path / "askpass"
    script.write_text(f"#!/bin/sh\necho '{secret}'\n")
    script.chmod(0o700)
    return {"SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}


def test_certificate_for_a_key_on_softhsm_logs_in_with_pkcs11provider(world: World, tmp_path: Path,
                                                                       private_softhsm_token: SoftHSMToken) -> None:
    env = {**os.environ, "APPLIANCE_PATH": str(tmp_path / "client")}
    key_file = tmp_path / "id_hsm"
    key_uri = "pkcs11:id=7777;object=ssh-user"
    world.appliance(env, "certificate", "root", str(key_file), "--kms", private_softhsm_token.kms_uri,
                    "--key-uri", key_uri, *world.provisioner_flags, *world.ca_flags)
    assert not key_file.exists()  # the private key stays on the token
    listing = _listing(Path(f"{key_file}-cert.pub"))
    assert "ecdsa-sha2-nistp256-cert-v01@openssh.com user certificate" in listing and "root" in listing
    on_token = subprocess.run(["ssh-keygen", "-D", private_softhsm_token.module], env=env, check=True,
                              capture_output=True, text=True).stdout.splitlines()
    public = Path(f"{key_file}.pub").read_text().split()
    assert " ".join(public[:2]) in {" ".join(line.split()[:2]) for line in on_token}  # OpenSSH's own PKCS#11 reading
    certified = parse_certificate(Path(f"{key_file}-cert.pub").read_text()).public_key()
    assert authorized_key(certified) == " ".join(public[:2])

    # IdentitiesOnly drops a PKCS#11 key no IdentityFile names: -i names it by its public key file
    login = world.ssh({**env, **_askpass(tmp_path, private_softhsm_token.pin)}, "root@127.0.0.1",
                      "-o", f"PKCS11Provider={private_softhsm_token.module}", "-i", f"{key_file}.pub",
                      "-o", f"CertificateFile={key_file}-cert.pub", "-o", "IdentitiesOnly=yes",
                      "-o", "IdentityAgent=none")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "in-as-root"
    bare = world.ssh({**env, **_askpass(tmp_path, private_softhsm_token.pin)}, "root@127.0.0.1",
                     "-o", f"PKCS11Provider={private_softhsm_token.module}", "-i", f"{key_file}.pub",
                     "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none")
    assert bare.returncode == 255  # the key alone, without its certificate: refused
    with running_agent(tmp_path) as agent:  # the token's key through ssh-agent (ssh-add -s), the same certificate
        added = subprocess.run(["ssh-add", "-s", private_softhsm_token.module],
                               env={**agent, **_askpass(tmp_path, private_softhsm_token.pin)},
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        through_agent = world.ssh(agent, "root@127.0.0.1", "-o", "BatchMode=yes", "-i", f"{key_file}.pub",
                                  "-o", f"CertificateFile={key_file}-cert.pub", "-o", "IdentitiesOnly=yes")
        assert through_agent.returncode == 0, through_agent.stderr

    world.appliance(env, "certificate", "root", str(key_file), "--kms", private_softhsm_token.kms_uri,
                    "--key-uri", key_uri, "--force", *world.provisioner_flags, *world.ca_flags)
    assert Path(f"{key_file}.pub").read_text().split() == public  # the key on the token, used again


def _listing(certificate: Path) -> str:
    return subprocess.run(["ssh-keygen", "-L", "-f", str(certificate)], check=True, capture_output=True,
                          text=True).stdout


def test_host_key_on_softhsm_is_renewed_and_rekeyed_by_sshpop_tokens_it_signs(
        world: World, tmp_path: Path, private_softhsm_token: SoftHSMToken) -> None:
    env = {**os.environ, "APPLIANCE_PATH": str(tmp_path / "client")}
    base, kms = tmp_path / "ssh_host_hsm", ["--kms", private_softhsm_token.kms_uri]
    old_uri, new_uri = "pkcs11:id=7001;object=host", "pkcs11:id=7002;object=host-next"
    certificate = Path(f"{base}-cert.pub")
    world.appliance(env, "certificate", "web.internal", str(base), "--host", "--principal", "web.internal", *kms,
                    "--key-uri", old_uri, *world.provisioner_flags, *world.ca_flags)
    issued = parse_certificate(certificate.read_text())
    world.appliance(env, "renew", str(certificate), old_uri, *kms, "--force", *world.ca_flags)
    renewed = parse_certificate(certificate.read_text())
    assert renewed.serial != issued.serial and renewed.public_key() == issued.public_key()
    assert "host certificate" in _listing(certificate) and "web.internal" in _listing(certificate)

    world.appliance(env, "rekey", str(certificate), old_uri, *kms, "--new-key-uri", new_uri, "--force",
                    *world.ca_flags)
    rekeyed = parse_certificate(certificate.read_text())
    assert rekeyed.public_key() != issued.public_key()
    on_token = subprocess.run(["ssh-keygen", "-D", private_softhsm_token.module], env=env, check=True,
                              capture_output=True, text=True).stdout.splitlines()
    assert {authorized_key(issued.public_key()), authorized_key(rekeyed.public_key())} <= \
        {" ".join(line.split()[:2]) for line in on_token}  # both keys on the token
    assert Path(f"{base}.pub").read_text().split()[:2] == authorized_key(rekeyed.public_key()).split()
    assert "host certificate" in _listing(certificate)


def test_certificate_for_a_softkms_key_logs_in(world: World, tmp_path: Path) -> None:
    env = {**os.environ, "APPLIANCE_PATH": str(tmp_path / "client")}
    password = tmp_path / "key-password"
    password.write_text("key secret\n")
    key_file = tmp_path / "id_soft"
    world.appliance(env, "certificate", "root", str(key_file), "--kms", f"softkms:?password-source={password}",
                    *world.provisioner_flags, *world.ca_flags)
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()  # softkms: PKCS#8, encrypted
    derived = subprocess.run(["ssh-keygen", "-y", "-P", "key secret", "-f", str(key_file)], check=True,
                             capture_output=True, text=True).stdout.split()
    assert derived[:2] == Path(f"{key_file}.pub").read_text().split()[:2]
    login = world.ssh({**env, **_askpass(tmp_path, "key secret")}, "root@127.0.0.1", "-i", str(key_file),
                      "-o", f"CertificateFile={key_file}-cert.pub", "-o", "IdentitiesOnly=yes",
                      "-o", "IdentityAgent=none")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "in-as-root"


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def test_login_with_identity_keeps_the_x509_identity_as_step_does(world: World, tmp_path: Path) -> None:
    with running_agent(tmp_path) as agent:
        env = _client_env(tmp_path, agent)
        world.appliance(env, "login", "alice", "--identity", *world.provisioner_flags, *world.ca_flags)
        (line,) = _agent_certificates(env)
    base = tmp_path / "client"
    described = json.loads((base / "config" / "identity.json").read_text())
    assert described == {"type": "mTLS", "crt": str(base / "identity" / "identity.crt"),
                         "key": str(base / "identity" / "identity_key")}
    assert (base / "identity" / "identity_key").stat().st_mode & 0o077 == 0
    chain = x509.load_pem_x509_certificates((base / "identity" / "identity.crt").read_bytes())
    assert len(chain) == 2
    assert _openssl("verify", "-CAfile", str(world.ca.root), "-untrusted", str(world.ca.intermediate),
                    "-purpose", "sslclient", str(base / "identity" / "identity.crt")).strip().endswith(": OK")
    assert "CN = alice" in _openssl("x509", "-noout", "-subject", "-in", str(base / "identity" / "identity.crt"))
    assert _openssl("x509", "-noout", "-pubkey", "-in", str(base / "identity" / "identity.crt")) == \
        _openssl("pkey", "-pubout", "-in", str(base / "identity" / "identity_key"))
    certificate = parse_certificate(line)
    utc = datetime.timezone.utc
    assert chain[0].not_valid_before_utc == datetime.datetime.fromtimestamp(certificate.valid_after, utc)
    assert chain[0].not_valid_after_utc == datetime.datetime.fromtimestamp(certificate.valid_before, utc)

    key = (base / "identity" / "identity_key").read_bytes()
    (tmp_path / "again").mkdir()
    with running_agent(tmp_path / "again") as agent:  # a second login: a new identity certificate, the same key
        world.appliance(_client_env(tmp_path, agent), "login", "alice", "--identity", *world.provisioner_flags,
                        *world.ca_flags)
    assert (base / "identity" / "identity_key").read_bytes() == key
    renewed = x509.load_pem_x509_certificates((base / "identity" / "identity.crt").read_bytes())[0]
    assert renewed.serial_number != chain[0].serial_number and renewed.public_key() == chain[0].public_key()
