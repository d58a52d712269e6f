"""``POST /ssh/config``: the client's and sshd's configuration from the built-in templates
(step-ca's) and from ca.json's ``templates``; the CA keys checked with ssh-keygen."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from appliance.client.ssh_config import ConfigOutput, Destination, write_output
from appliance.config import ConfigError
from appliance.sshcert import key_blob
from tests.ssh.conftest import SshCA


def _config(ssh_ca: SshCA, kind: str, data: dict[str, Any] | None = None) -> Any:
    return ssh_ca.client.post("/1.0/ssh/config", content=json.dumps({"type": kind, "data": data or {}}))


def _contents(outputs: list[dict[str, str]]) -> dict[str, str]:
    return {o["name"]: base64.b64decode(o["content"]).decode() for o in outputs}


def _authorized(key: Any) -> str:
    blob = key_blob(key.public_key())
    return f"{blob[4:4 + int.from_bytes(blob[:4], 'big')].decode()} {base64.b64encode(blob).decode()}"


def test_user_config_trusts_the_host_ca(ssh_ca: SshCA, tmp_path: Path) -> None:
    response = _config(ssh_ca, "user", {"StepPath": "/home/alice/.appliance", "User": "alice",
                                        "Provisioner": "admin"})
    assert response.status_code == 200
    outputs = response.json()["userKey"]
    assert [(o["name"], o["type"], o["path"], o["comment"]) for o in outputs] == [
        ("include.tpl", "snippet", "~/.ssh/config", "#"), ("config.tpl", "file", "ssh/config", "#"),
        ("known_hosts.tpl", "file", "ssh/known_hosts", "#")]
    files = _contents(outputs)
    assert files["include.tpl"] == 'Host *\n\tInclude "/home/alice/.appliance/ssh/config"'
    assert "\tUser alice\n" in files["config.tpl"]
    assert '\tUserKnownHostsFile "/home/alice/.appliance/ssh/known_hosts"' in files["config.tpl"]
    assert "\tProxyCommand appliance ssh proxycommand --provisioner admin %r %h %p\n" in files["config.tpl"]
    assert files["known_hosts.tpl"] == f"@cert-authority * {_authorized(ssh_ca.host_key)}\n"
    # the line is a key ssh-keygen reads: its fingerprint is the host CA key's
    line = tmp_path / "ca.pub"
    line.write_text(files["known_hosts.tpl"].removeprefix("@cert-authority * "))
    found = subprocess.run(["ssh-keygen", "-l", "-f", str(line)], capture_output=True, text=True, check=True)
    expected = tmp_path / "expected.pub"
    expected.write_text(_authorized(ssh_ca.host_key) + "\n")
    assert found.stdout.split()[1] == subprocess.run(["ssh-keygen", "-l", "-f", str(expected)], capture_output=True,
                                                     text=True, check=True).stdout.split()[1]


def test_host_config_needs_certificate_and_key(ssh_ca: SshCA) -> None:
    missing = _config(ssh_ca, "host", {"Certificate": "ssh_host_ecdsa_key-cert.pub"})
    assert missing.status_code == 400 and "required variable 'Key' is missing" in missing.json()["message"]
    response = _config(ssh_ca, "host", {"Certificate": "ssh_host_ecdsa_key-cert.pub", "Key": "ssh_host_ecdsa_key"})
    assert response.status_code == 200 and "userKey" not in response.json()
    files = _contents(response.json()["hostKey"])
    assert files["sshd_config.tpl"] == ("Match all\n\tTrustedUserCAKeys /etc/ssh/ca.pub\n"
                                        "\tHostCertificate /etc/ssh/ssh_host_ecdsa_key-cert.pub\n"
                                        "\tHostKey /etc/ssh/ssh_host_ecdsa_key")
    assert files["ca.tpl"] == _authorized(ssh_ca.user_key) + "\n"


def test_a_custom_template_from_ca_json(make_ssh_ca: Callable[..., SshCA], tmp_path: Path) -> None:
    template = tmp_path / "motd.tpl"
    template.write_text('{{ .Greeting }}, {{ .User.Name | upper }}\n{{ .Step.SSH.UserKey.Type }}\n')
    ssh_ca = make_ssh_ca(templates={
        "ssh": {"user": [{"name": "motd.tpl", "type": "file", "template": str(template), "path": "~/motd",
                          "comment": ";"}],
                "host": [{"name": "keys", "type": "directory", "path": "/etc/ssh/keys"}]},
        "data": {"Greeting": "hello"}})
    outputs = _config(ssh_ca, "user", {"Name": "alice"}).json()["userKey"]
    assert outputs == [{"name": "motd.tpl", "type": "file", "comment": ";", "path": "~/motd",
                        "content": base64.b64encode(b"hello, ALICE\necdsa-sha2-nistp256\n").decode()}]
    assert _config(ssh_ca, "host").json() == {"hostKey": [
        {"name": "keys", "type": "directory", "comment": "#", "path": "/etc/ssh/keys", "content": None}]}


def test_a_failing_template_is_a_400_naming_it(make_ssh_ca: Callable[..., SshCA], tmp_path: Path) -> None:
    template = tmp_path / "broken.tpl"
    template.write_text('{{ fail "no user here" }}')
    ssh_ca = make_ssh_ca(templates={"ssh": {"user": [
        {"name": "broken.tpl", "type": "file", "template": str(template), "path": "x"}]}})
    response = _config(ssh_ca, "user")
    assert response.status_code == 400
    assert "broken.tpl" in response.json()["message"] and "no user here" in response.json()["message"]


@pytest.mark.parametrize("templates, named", [
    ({"ssh": {"user": [{"name": "a", "type": "file", "template": "nowhere.tpl", "path": "x"}]}},
     "templates.ssh.user[0].template"),
    ({"ssh": {"user": [{"name": "a", "type": "zip", "template": "a.tpl", "path": "x"}]}}, "templates.ssh.user[0].type"),
    ({"ssh": {"host": [{"name": "a", "type": "file", "template": "a.tpl", "path": "x", "mode": 1}]}},
     "templates.ssh.host[0].mode"),
    ({"x509": {}}, "templates.x509"),
    ({"data": {"User": {}}}, "templates.data.User"),
    ({"ssh": {"user": [{"name": "a", "type": "file", "template": "{{ .x", "path": "x"}]}}, "SSH template a"),
])
def test_bad_templates_stop_the_ca_naming_the_field(make_ssh_ca: Callable[..., SshCA], tmp_path: Path,
                                                    templates: dict[str, Any], named: str) -> None:
    for item in templates.get("ssh", {}).get("user", []):
        if item["template"].startswith("{{"):
            (tmp_path / "bad.tpl").write_text(item["template"])
            item["template"] = str(tmp_path / "bad.tpl")
    with pytest.raises(ConfigError) as refused:
        make_ssh_ca(templates=templates)
    assert named in refused.value.message


def test_bad_type_and_data(ssh_ca: SshCA) -> None:
    bad = _config(ssh_ca, "admin")
    assert bad.status_code == 400 and "invalid type 'admin'" in bad.json()["message"]
    not_strings = ssh_ca.client.post("/1.0/ssh/config", content=json.dumps({"type": "user", "data": {"a": [1]}}))
    assert not_strings.status_code == 400
    default = ssh_ca.client.post("/1.0/ssh/config", content=json.dumps({}))
    assert default.status_code == 200 and "userKey" in default.json()


def test_outputs_are_written_as_step_writes_them(ssh_ca: SshCA, tmp_path: Path) -> None:
    """What ``appliance ssh config`` does with the answer: ~ in the home, relative paths in the
    client's directory, absolute ones under --dir; a snippet replaced in place on the next run."""
    home, base = tmp_path / "home", tmp_path / "home" / ".appliance"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host old\n\tUser me\n")
    destination = Destination(home=home, base=base, root=home)
    now = datetime.datetime(2026, 12, 5, tzinfo=datetime.timezone.utc)
    for _ in range(2):  # twice: the snippet is replaced, not added again
        outputs = _config(ssh_ca, "user", {"StepPath": str(base)}).json()["userKey"]
        written = [write_output(ConfigOutput.from_json(o), destination, now) for o in outputs]
    assert written == [home / ".ssh" / "config", base / "ssh" / "config", base / "ssh" / "known_hosts"]
    assert (home / ".ssh" / "config").read_text() == (
        "Host old\n\tUser me\n\n# autogenerated by appliance @ 2026-12-05T00:00:00Z\n"
        f'Host *\n\tInclude "{base}/ssh/config"\n# end\n')
    assert (base / "ssh" / "known_hosts").read_text() == f"@cert-authority * {_authorized(ssh_ca.host_key)}\n"
    assert (base / "ssh" / "known_hosts").stat().st_mode & 0o077 == 0
    host = _config(ssh_ca, "host", {"Certificate": "c.pub", "Key": "k"}).json()["hostKey"]
    paths = [write_output(ConfigOutput.from_json(o), destination, now) for o in host]
    assert paths == [home / "etc" / "ssh" / "sshd_config", home / "etc" / "ssh" / "ca.pub"]
    assert "\tHostKey /etc/ssh/k\n# end\n" in paths[0].read_text()
    (home / ".ssh" / "config").write_text((home / ".ssh" / "config").read_text() + 'Include "x"\n')
    prepend = ConfigOutput("inc", "prepend-line", "#", "~/.ssh/config", b'Include "x"')
    for _ in range(2):  # first, once: a copy further down is moved up
        write_output(prepend, destination, now)
    assert (home / ".ssh" / "config").read_text().startswith('Include "x"\nHost old\n')
    assert (home / ".ssh" / "config").read_text().count('Include "x"') == 1
