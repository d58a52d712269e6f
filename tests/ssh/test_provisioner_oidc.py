"""POST /ssh/sign with ID tokens of a real OpenID provider (panva's ``oidc-provider``,
code flow with PKCE driven headless): user certificates for the email's principals,
anything for admins; certificates checked by ``ssh-keygen -L``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.provisioner.openid_provider import OpenIDProvider, signing_key
from tests.ssh.conftest import SshCA
from tests.ssh.test_provisioner_types import issued, post_sign, ssh_count

pytestmark = pytest.mark.slow

CLIENT = {"client_id": "appliance", "token_endpoint_auth_method": "none",
          "redirect_uris": ["http://127.0.0.1:10000/callback"]}
USER, ADMIN = "Jane.Doe@example.com", "root@example.com"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    running = OpenIDProvider(tmp_path_factory.mktemp("oidc"), [CLIENT], [signing_key("k1")],
                             {USER: {}, ADMIN: {}}).start()
    yield running
    running.stop()


def oidc_provisioner(provider: OpenIDProvider, **extra: Any) -> dict[str, Any]:
    return {"type": "OIDC", "name": "sso", "clientID": "appliance", "admins": [ADMIN],
            "configurationEndpoint": provider.configuration_endpoint, "claims": {"enableSSHCA": True}, **extra}


def test_user_gets_a_user_certificate_for_the_principals_of_their_email(
        make_ssh_ca: Callable[..., SshCA], provider: OpenIDProvider, tmp_path: Path) -> None:
    ca = make_ssh_ca(provisioners=(oidc_provisioner(provider),))
    id_token = provider.id_token(CLIENT, USER)
    listing = issued(tmp_path, post_sign(ca, id_token))
    assert "user certificate" in listing and f'Key ID: "{USER}"' in listing
    principals = listing.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["janedoe", "Jane.Doe", USER]
    assert "permit-pty" in listing
    replayed = post_sign(ca, id_token)
    assert replayed.status_code == 401 and "already used" in replayed.json()["message"]
    narrowed = issued(tmp_path, post_sign(ca, provider.id_token(CLIENT, USER), "user", "", ("janedoe",)))
    assert "janedoe" in narrowed


def test_user_cannot_ask_for_other_principals_or_a_host_certificate(
        make_ssh_ca: Callable[..., SshCA], provider: OpenIDProvider) -> None:
    ca = make_ssh_ca(provisioners=(oidc_provisioner(provider),))
    other = post_sign(ca, provider.id_token(CLIENT, USER), "user", "", ("root",))
    assert other.status_code == 403 and "principals does not match" in other.json()["message"]
    host = post_sign(ca, provider.id_token(CLIENT, USER), "host", "", ("janedoe",))
    assert host.status_code == 403 and "type does not match" in host.json()["message"]
    disabled = make_ssh_ca(provisioners=(oidc_provisioner(provider, claims={"enableSSHCA": False}),))
    refused = post_sign(disabled, provider.id_token(CLIENT, USER))
    assert refused.status_code == 401 and "sshCA is disabled" in refused.json()["message"]
    assert ssh_count(ca) == 0 and ssh_count(disabled) == 0


def test_admin_gets_the_certificate_the_request_describes(
        make_ssh_ca: Callable[..., SshCA], provider: OpenIDProvider, tmp_path: Path) -> None:
    ca = make_ssh_ca(provisioners=(oidc_provisioner(provider),))
    listing = issued(tmp_path, post_sign(ca, provider.id_token(CLIENT, ADMIN), "host", "web-1", ("web.example.com",)))
    assert "host certificate" in listing and 'Key ID: "web-1"' in listing and "web.example.com" in listing
    user = issued(tmp_path, post_sign(ca, provider.id_token(CLIENT, ADMIN), "user", "ops", ("deploy", "backup")))
    assert "user certificate" in user and "deploy" in user and "backup" in user and "permit-pty" in user
    incomplete = post_sign(ca, provider.id_token(CLIENT, ADMIN), "host", "", ("web.example.com",))
    assert incomplete.status_code == 400 and "key id has not been provided" in incomplete.json()["message"]
    assert ssh_count(ca) == 2
