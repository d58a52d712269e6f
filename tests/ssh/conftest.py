"""An in-process SSH CA (softkms SSH keys, real SQLite) behind the real HTTP app."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from starlette.testclient import TestClient

from appliance.api import ApiSettings, create_app
from appliance.authority.authority import Authority
from appliance.db import open_database
from appliance.jose import sign
from appliance.kms import open_key_manager
from appliance.kms.softkms import encrypted_pem
from appliance.sshcert import key_blob
from tests.ca_fixtures import PASSWORD, TestCA, build_ca
from tests.clock import FakeClock


@dataclass
class SshCA:
    """The CA, its authority, an HTTP client and the SSH CA keys."""

    ca: TestCA
    authority: Authority
    client: TestClient
    user_key: Any
    host_key: Any
    clock: FakeClock

    def token(self, subject: str, *, endpoint: str = "ssh/sign", ssh: dict[str, Any] | None = None,
              **overrides: Any) -> str:
        """A JWK token as ``step ssh certificate`` makes it (``step.ssh`` claims)."""
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.ca.provisioner, "aud": self.ca.audience(endpoint), "sub": subject,
            "nbf": now, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "sha": self.ca.fingerprint,
        }
        if ssh is not None:
            claims["step"] = {"ssh": ssh}
        claims.update(overrides)
        return sign(claims, self.ca.provisioner_key)

    def sign(self, public_key: Any, subject: str = "alice", *, ssh: dict[str, Any] | None = None,
             **body: Any) -> Any:
        ssh = {"certType": "user", "keyID": subject, "principals": [subject]} if ssh is None else ssh
        request = {"publicKey": base64.b64encode(key_blob(public_key)).decode(),
                   "ott": self.token(subject, ssh=ssh), "certType": ssh.get("certType", ""),
                   "keyID": ssh.get("keyID", ""), "principals": ssh.get("principals", []), **body}
        return self.client.post("/1.0/ssh/sign", content=json.dumps(request))


@pytest.fixture
def make_ssh_ca(tmp_path: Path) -> Iterator[Callable[..., SshCA]]:
    opened: list[Authority] = []

    def make(*, provisioner: dict[str, Any] | None = None, authority: dict[str, Any] | None = None,
             ssh: dict[str, Any] | None = None, host_key_kind: str = "EC",
             user_key_uri: str | None = None, sshpop: bool = False,
             templates: dict[str, Any] | None = None, provisioners: tuple[dict[str, Any], ...] = ()) -> SshCA:
        """``user_key_uri``: the user CA key in a KMS (pkcs11:...) instead of a softkms file;
        ``templates``: ca.json's top-level ``templates``; ``provisioners``: more provisioners
        after the JWK one."""
        ca = build_ca(tmp_path / f"ca{len(opened)}", provisioner={"claims": {"enableSSHCA": True},
                                                                   **(provisioner or {})}, authority=authority)
        user_key = ec.generate_private_key(ec.SECP256R1())
        host_key = ed25519.Ed25519PrivateKey.generate() if host_key_kind == "Ed25519" else \
            ec.generate_private_key(ec.SECP384R1())
        (ca.path / "secrets" / "ssh_user_ca_key").write_bytes(encrypted_pem(user_key, PASSWORD))
        (ca.path / "secrets" / "ssh_host_ca_key").write_bytes(encrypted_pem(host_key, PASSWORD))
        data = json.loads(ca.config_path.read_text())
        if user_key_uri is not None:
            with open_key_manager(user_key_uri) as manager:
                user_key = manager.create_signer(user_key_uri)
        if sshpop:
            data["authority"]["provisioners"].append({"type": "SSHPOP", "name": "sshpop",
                                                      "claims": {"enableSSHCA": True}})
        data["authority"]["provisioners"].extend(provisioners)
        data["ssh"] = {"userKey": user_key_uri or str(ca.path / "secrets" / "ssh_user_ca_key"),
                       "hostKey": str(ca.path / "secrets" / "ssh_host_ca_key"), **(ssh or {})}
        if templates is not None:
            data["templates"] = templates
        ca.config_path.write_text(json.dumps(data))
        config = ca.config()
        authority_object = Authority.from_config(config, open_database(config.db), password=ca.password)
        clock = FakeClock()
        opened.append(authority_object)
        client = TestClient(create_app(authority_object, ApiSettings()), base_url="https://ca.test",
                            raise_server_exceptions=False)
        return SshCA(ca, authority_object, client, user_key, host_key, clock)

    yield make
    for authority in opened:
        authority.close()
        authority.database.close()


@pytest.fixture
def ssh_ca(make_ssh_ca: Callable[..., SshCA]) -> SshCA:
    return make_ssh_ca()
