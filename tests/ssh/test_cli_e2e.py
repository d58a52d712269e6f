"""``appliance ssh ...`` against ``appliance serve`` (made by ``appliance init --ssh``, two
workers): certificate, inspect, check-host, config (client and --host), revoke, krl, renew, rekey, login/list/logout with a real
ssh-agent; checked by ssh-keygen and ssh-add (``hosts``
speaks the endpoint tests/ssh/test_hosts.py covers)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import APPLIANCE, init_ca, start_server

pytestmark = pytest.mark.slow


def test_ssh_commands_against_a_running_ca(tmp_path: Path) -> None:
    ca = init_ca(tmp_path, "--ssh")
    data = ca.data()
    data["authority"]["provisioners"].append({"type": "SSHPOP", "name": "sshpop", "claims": {"enableSSHCA": True}})
    ca.write(data)
    server = start_server(ca, workers=2)
    env = {**os.environ, "APPLIANCE_PATH": str(tmp_path / "client")}
    common = ["--ca-url", ca.url, "--root", str(ca.root)]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(APPLIANCE), "ssh", *args], capture_output=True, text=True, env=env, timeout=60)
        assert not check or result.returncode == 0, result.stderr
        return result

    try:
        keys = tmp_path / "keys"
        keys.mkdir()
        run("certificate", "alice", str(keys / "id_alice"), "--provisioner", "admin",
            "--password-file", str(ca.password_file), *common)
        listing = subprocess.run(["ssh-keygen", "-L", "-f", str(keys / "id_alice-cert.pub")], check=True,
                                 capture_output=True, text=True).stdout
        assert "user certificate" in listing and 'Key ID: "alice"' in listing
        assert (keys / "id_alice").stat().st_mode & 0o077 == 0
        described = json.loads(run("inspect", str(keys / "id_alice-cert.pub")).stdout)
        assert described["type"] == "user" and described["principals"] == ["alice"]

        run("certificate", "web.internal", str(keys / "ssh_host_key"), "--host", "--principal", "web.internal",
            "--provisioner", "admin", "--password-file", str(ca.password_file), *common)
        assert run("check-host", "web.internal", *common).stdout.strip() == "true"

        home = tmp_path / "home"
        run("config", "--dir", str(home), *common)
        host_ca = json.loads(subprocess.run(["curl", "-sf", "--cacert", str(ca.root), f"{ca.url}/ssh/roots"],
                                            check=True, capture_output=True, text=True).stdout)["hostKey"][0]
        known_hosts = (tmp_path / "client" / "ssh" / "known_hosts").read_text().split()
        assert known_hosts[0] == "@cert-authority" and known_hosts[3] == host_ca
        assert f'Include "{tmp_path / "client"}/ssh/config"' in (home / ".ssh" / "config").read_text()
        refused = run("config", "--host", "--dir", str(home), *common, check=False)
        assert refused.returncode != 0 and "required variable 'Certificate'" in refused.stderr
        run("config", "--host", "--set", "Certificate=ssh_host_key-cert.pub", "--set", "Key=ssh_host_key",
            "--dir", str(home), *common)
        assert "\tHostCertificate /etc/ssh/ssh_host_key-cert.pub\n" in (home / "etc/ssh/sshd_config").read_text()
        subprocess.run(["ssh-keygen", "-l", "-f", str(home / "etc/ssh/ca.pub")], check=True, capture_output=True)

        run("renew", str(keys / "ssh_host_key-cert.pub"), str(keys / "ssh_host_key"), "--force", *common)
        renewed = json.loads(run("inspect", str(keys / "ssh_host_key-cert.pub")).stdout)
        assert renewed["type"] == "host" and renewed["principals"] == ["web.internal"]
        old_public = (keys / "ssh_host_key.pub").read_text()
        run("rekey", str(keys / "ssh_host_key-cert.pub"), str(keys / "ssh_host_key"), "--force", *common)
        assert (keys / "ssh_host_key.pub").read_text() != old_public
        subprocess.run(["ssh-keygen", "-L", "-f", str(keys / "ssh_host_key-cert.pub")], check=True, capture_output=True)

        run("revoke", described["serial"], "--provisioner", "admin", "--password-file", str(ca.password_file),
            *common)
        run("krl", str(tmp_path / "krl"), *common)
        query = subprocess.run(["ssh-keygen", "-Q", "-f", str(tmp_path / "krl"), str(keys / "id_alice-cert.pub"),
                                str(keys / "ssh_host_key-cert.pub")], capture_output=True, text=True)
        assert query.returncode == 1
        assert query.stdout.splitlines()[0].endswith("REVOKED")
        assert query.stdout.splitlines()[1].endswith("ok")
        agent_socket = tmp_path / "agent.sock"
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_socket)], stdout=subprocess.DEVNULL)
        try:
            env["SSH_AUTH_SOCK"] = str(agent_socket)
            run("login", "bob", "--provisioner", "admin", "--password-file", str(ca.password_file), *common)
            listed = subprocess.run(["ssh-add", "-l"], env=env, capture_output=True, text=True).stdout
            assert "bob (ED25519-CERT)" in listed
            assert run("list").stdout.split("\t")[:2] == ["bob", "user"]
            run("logout", "bob")
            assert "CERT" not in subprocess.run(["ssh-add", "-l"], env=env, capture_output=True, text=True).stdout
        finally:
            agent.terminate()
            agent.wait(timeout=10)
    finally:
        server.stop()
