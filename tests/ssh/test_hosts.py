"""/ssh/hosts and /ssh/check-host: the hosts holding a current host certificate."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.sshcert import parse_certificate
from tests.ssh.conftest import SshCA


def test_hosts_and_check_host(ssh_ca: SshCA) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    web = ssh_ca.sign(key, "web.internal", ssh={"certType": "host", "principals": ["web.internal", "10.0.0.7"]})
    db = ssh_ca.sign(key, "db.internal", ssh={"certType": "host", "principals": ["db.internal"]})
    assert ssh_ca.sign(key, "alice").status_code == 201  # a user certificate is no host
    hosts = ssh_ca.client.get("/ssh/hosts").json()["hosts"]
    assert [h["hostname"] for h in hosts] == ["10.0.0.7", "db.internal", "web.internal"]
    assert hosts[2]["hid"] == str(parse_certificate(web.json()["crt"]).serial)

    def exists(principal: str) -> bool:
        response = ssh_ca.client.post("/ssh/check-host", content=json.dumps({"type": "host", "principal": principal}))
        assert response.status_code == 200
        return bool(response.json()["exists"])

    assert exists("web.internal") and not exists("alice") and not exists("nowhere.internal")
    serial = str(parse_certificate(db.json()["crt"]).serial)
    assert ssh_ca.client.post("/ssh/revoke", content=json.dumps(
        {"serial": serial, "ott": ssh_ca.token(serial, endpoint="ssh/revoke")})).status_code == 200
    assert not exists("db.internal")
    bad = ssh_ca.client.post("/ssh/check-host", content=json.dumps({"type": "user", "principal": "alice"}))
    assert bad.status_code == 400 and "unsupported type" in bad.json()["message"]


def test_bastion(make_ssh_ca) -> None:  # type: ignore[no-untyped-def]
    ssh_ca = make_ssh_ca(ssh={"bastion": {"hostname": "bastion.internal", "user": "jump", "port": "2222"}})

    def ask(hostname: str) -> dict[str, object]:
        response = ssh_ca.client.post("/ssh/bastion", content=json.dumps({"hostname": hostname}))
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert ask("web.internal") == {"hostname": "web.internal",
                                   "bastion": {"hostname": "bastion.internal", "user": "jump", "port": "2222"}}
    assert ask("Bastion.Internal") == {"hostname": "Bastion.Internal"}  # none for the bastion itself
    missing = ssh_ca.client.post("/ssh/bastion", content=json.dumps({"user": "x"}))
    assert missing.status_code == 400 and "missing or empty hostname" in missing.json()["message"]


def test_hosts_list_disabled(make_ssh_ca) -> None:  # type: ignore[no-untyped-def]
    ssh_ca = make_ssh_ca(authority={"disableGetSSHHosts": True})
    response = ssh_ca.client.get("/ssh/hosts")
    assert response.status_code == 404 and "disabled" in response.json()["message"]
    assert ssh_ca.client.post("/ssh/check-host", content=json.dumps({"type": "host", "principal": "x"})
                              ).json() == {"exists": False}
