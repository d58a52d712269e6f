"""The OIDC provisioner against a real OpenID provider (panva's certified
``oidc-provider`` on Node.js): discovery, its JWK Set and key rotation, ID tokens
from the authorization code flow with PKCE driven headless, public and
confidential clients; certificates checked by ``openssl verify``."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from appliance.authority.interfaces import RevokeRequest, SignRequest
from appliance.errors import Forbidden, Unauthorized, Unavailable
from appliance.jose import UnverifiedToken, key_from_dict, sign
from appliance.client.oidc_login import oidc_device_login
from appliance.provisioner.oidc import OIDCProvisioner
from tests.ca_fixtures import make_csr
from tests.e2e.harness import free_port
from tests.provisioner.conftest import MakeAuthority, certificate_count, context, openssl_verifies, sans
from tests.provisioner.openid_provider import OpenIDProvider, signing_key

pytestmark = pytest.mark.slow

PUBLIC = {"client_id": "appliance", "token_endpoint_auth_method": "none",
          "redirect_uris": ["http://127.0.0.1:10000/callback"]}
CONFIDENTIAL = {"client_id": "other-app", "client_secret": "other-secret",
                "redirect_uris": ["http://127.0.0.1:10001/callback"]}
DEVICE = {"client_id": "device-app", "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1:1/cb"],
          "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "authorization_code"]}
ACCOUNTS = {"alice@example.com": {"groups": ["ops"]}, "root@example.com": {}, "bob@other.test": {}}


def _provider(directory: Path) -> OpenIDProvider:
    return OpenIDProvider(directory, [PUBLIC, CONFIDENTIAL, DEVICE], [signing_key("k1")], ACCOUNTS,
                          acr_values=["urn:mfa", "urn:pwd"])


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    running = _provider(tmp_path_factory.mktemp("oidc")).start()
    yield running
    running.stop()


def oidc_config(provider: OpenIDProvider, **extra: Any) -> dict[str, Any]:
    return {"type": "OIDC", "name": "sso", "clientID": "appliance",
            "configurationEndpoint": provider.configuration_endpoint, **extra}


class Clock:
    """An injected clock the test moves."""

    def __init__(self) -> None:
        self.at = datetime.datetime.now(datetime.timezone.utc)

    def __call__(self) -> datetime.datetime:
        return self.at


def _provisioner(config: dict[str, Any], now: Clock | None = None) -> OIDCProvisioner:
    return OIDCProvisioner(config, context(now or Clock()))


def test_a_users_id_token_gets_a_certificate_for_their_email(
        authority_with: MakeAuthority, provider: OpenIDProvider, tmp_path: Path) -> None:
    authority, ca = authority_with(oidc_config(provider, domains=["example.com"], groups=["ops"]))
    id_token = provider.id_token(PUBLIC, "alice@example.com")
    issued = authority.sign(SignRequest(csr=make_csr("alice@example.com")[0], token=id_token))
    openssl_verifies(ca, issued, tmp_path)
    assert sans(issued.certificate) == ["alice@example.com"]
    with pytest.raises(Unauthorized, match="already used"):
        authority.sign(SignRequest(csr=make_csr("alice@example.com")[0], token=id_token))
    with pytest.raises(Forbidden, match="host.example.com"):
        authority.sign(SignRequest(csr=make_csr("alice@example.com", ["alice@example.com", "host.example.com"])[0],
                                   token=provider.id_token(PUBLIC, "alice@example.com")))
    assert certificate_count(authority) == 1
    # without names in the request: the email and the iss#sub URI, as step-ca's template gives
    issued = authority.sign(SignRequest(csr=make_csr("alice@example.com", [])[0],
                                        token=provider.id_token(PUBLIC, "alice@example.com")))
    assert sans(issued.certificate) == ["alice@example.com", f"{provider.issuer}#alice@example.com"]


def test_an_admin_gets_any_name_and_revokes(authority_with: MakeAuthority, provider: OpenIDProvider,
                                            tmp_path: Path) -> None:
    authority, ca = authority_with(oidc_config(provider, admins=["Root@example.com"]))
    issued = authority.sign(SignRequest(csr=make_csr("web.internal", ["web.internal", "10.0.0.7"])[0],
                                        token=provider.id_token(PUBLIC, "root@example.com")))
    openssl_verifies(ca, issued, tmp_path)
    assert sans(issued.certificate) == ["10.0.0.7", "web.internal"]
    serial = str(issued.certificate.serial_number)
    with pytest.raises(Unauthorized, match="non-admin"):
        authority.revoke(RevokeRequest(serial=serial, token=provider.id_token(PUBLIC, "alice@example.com")))
    authority.revoke(RevokeRequest(serial=serial, token=provider.id_token(PUBLIC, "root@example.com")))
    assert authority.database.get_revocation(serial) is not None


@pytest.mark.parametrize(("config", "login", "message"), [
    ({"domains": ["example.com"]}, "bob@other.test", "domain"),
    ({"groups": ["ops"]}, "bob@other.test", "group"),
    ({"acrValues": ["urn:mfa"]}, "alice@example.com", "acr"),
])
def test_users_outside_what_the_provisioner_allows_are_refused(
        authority_with: MakeAuthority, provider: OpenIDProvider, config: dict, login: str, message: str) -> None:
    authority, _ = authority_with(oidc_config(provider, **config))
    with pytest.raises(Unauthorized, match=message):
        authority.sign(SignRequest(csr=make_csr(login)[0], token=provider.id_token(PUBLIC, login)))
    assert certificate_count(authority) == 0


def test_required_acr_present(provider: OpenIDProvider) -> None:
    provisioner = _provisioner(oidc_config(provider, acrValues=["urn:mfa"]))
    token = UnverifiedToken.parse(provider.id_token(PUBLIC, "alice@example.com", acr="urn:mfa"))
    assert provisioner.authorize_sign(token).names.emails == {"alice@example.com"}
    weaker = UnverifiedToken.parse(provider.id_token(PUBLIC, "alice@example.com", acr="urn:pwd"))
    with pytest.raises(Unauthorized, match="acr"):
        provisioner.authorize_sign(weaker)


def test_a_token_for_another_client_is_refused(authority_with: MakeAuthority, provider: OpenIDProvider) -> None:
    other = provider.id_token(CONFIDENTIAL, "alice@example.com")
    authority, _ = authority_with(oidc_config(provider))
    with pytest.raises(Unauthorized, match="no provisioner"):
        authority.sign(SignRequest(csr=make_csr("alice@example.com")[0], token=other))
    with pytest.raises(Unauthorized, match="audience"):
        _provisioner(oidc_config(provider)).authorize_sign(UnverifiedToken.parse(other))
    # the confidential client's own provisioner accepts it
    own = _provisioner(oidc_config(provider, clientID="other-app", clientSecret="other-secret"))
    assert own.authorize_sign(UnverifiedToken.parse(other)).subject == "alice@example.com"


def test_an_expired_id_token_is_refused(provider: OpenIDProvider) -> None:
    clock = Clock()
    provisioner = _provisioner(oidc_config(provider), clock)
    token = UnverifiedToken.parse(provider.id_token(PUBLIC, "alice@example.com"))
    clock.at += datetime.timedelta(hours=1, minutes=2)  # the provider's ID tokens last an hour
    with pytest.raises(Unauthorized, match="expired"):
        provisioner.authorize_sign(token)


def test_a_token_signed_by_another_key_is_refused(provider: OpenIDProvider) -> None:
    """The provider's claims and key id, signed by a key it does not publish."""
    genuine = UnverifiedToken.parse(provider.id_token(PUBLIC, "alice@example.com"))
    forged = UnverifiedToken.parse(sign(genuine.claims, key_from_dict(signing_key("k1"))))
    with pytest.raises(Unauthorized, match="signature"):
        _provisioner(oidc_config(provider)).authorize_sign(forged)


def test_key_rotation_is_followed(tmp_path: Path) -> None:
    provider = _provider(tmp_path).start()
    try:
        clock = Clock()
        provisioner = _provisioner(oidc_config(provider), clock)
        before = UnverifiedToken.parse(provider.id_token(PUBLIC, "alice@example.com"))
        assert provisioner.authorize_sign(before).subject == "alice@example.com"
        provider.restart([signing_key("k2")])
        after = UnverifiedToken.parse(provider.id_token(PUBLIC, "alice@example.com"))
        assert after.header["kid"] == "k2"
        clock.at += datetime.timedelta(seconds=31)  # refetches at most every 30 s
        assert provisioner.authorize_sign(after).subject == "alice@example.com"
        with pytest.raises(Unauthorized, match="kid"):
            provisioner.authorize_sign(before)  # k1 is no longer published
    finally:
        provider.stop()


def test_a_provider_that_is_down_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    port = free_port()
    provisioner = _provisioner({"type": "OIDC", "name": "sso", "clientID": "appliance",
                                "configurationEndpoint": f"http://127.0.0.1:{port}/.well-known/openid-configuration"})
    token = UnverifiedToken.parse("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcHBsaWFuY2UifQ.c2ln")
    with pytest.raises(Unavailable, match="cannot reach"):
        provisioner.authorize_sign(token)


def test_device_code_login_rfc_8628(authority_with: MakeAuthority, provider: OpenIDProvider, tmp_path: Path) -> None:
    """The client shows the code, polls while "the user" confirms it and logs in elsewhere."""
    shown: list[tuple[str, str]] = []
    waits: list[float] = []

    def user_confirms_while_the_client_waits(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            assert "Sign-in Success" in provider.confirm_device(shown[0][0], "alice@example.com")

    config = oidc_config(provider, clientID="device-app")
    id_token = oidc_device_login(config, show=lambda url, code: shown.append((url, code)),
                                 sleep=user_confirms_while_the_client_waits)
    assert shown[0][1] in shown[0][0] and len(waits) == 1  # one "authorization_pending", then the token
    authority, ca = authority_with(config)
    issued = authority.sign(SignRequest(csr=make_csr("alice@example.com")[0], token=id_token))
    openssl_verifies(ca, issued, tmp_path)


def test_device_login_refused_when_the_user_never_confirms(provider: OpenIDProvider) -> None:
    waits: list[float] = []
    shown: list[str] = []
    with pytest.raises(Unauthorized, match="expired"):
        oidc_device_login(oidc_config(provider, clientID="device-app"), show=lambda url, code: shown.append(code),
                          sleep=waits.append)
    assert shown and sum(waits) > 600  # it polled (every 5 s, injected) until the provider's 10 minutes ran out


def test_the_template_reads_the_id_token_as_dot_token(authority_with: MakeAuthority, provider: OpenIDProvider) -> None:
    template = ('{"subject": {"commonName": {{ toJson .Token.email }}, "organizationalUnit": {{ toJson .Token.groups }}},'
                ' "sans": {{ toJson .SANs }}}')
    authority, _ = authority_with({**oidc_config(provider, groups=["ops"]), "options": {"x509": {"template": template}}})
    issued = authority.sign(SignRequest(csr=make_csr("alice@example.com")[0],
                                        token=provider.id_token(PUBLIC, "alice@example.com")))
    assert issued.certificate.subject.rfc4514_string() == "CN=alice@example.com,OU=ops"
