"""Logging in to the console through a real OpenID provider (panva's ``oidc-provider`` run by
Node.js, the OIDC provisioner tests' fixture): authorization code flow with PKCE, the session
an admin gets (revoking with CSRF), refusals (a person not named, a tampered state, a replayed
callback, a nonce that is not the login's), logging out, and the audit records."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from appliance.audit import AuditLog as ChainLog
from appliance.config.console import OidcLoginOptions
from appliance.console.access import ADMIN, VIEWER
from appliance.console.oidc import Identity, OidcLogin
from appliance.db.console_sessions import console_sessions
from appliance.errors import Forbidden
from appliance.pki.clock import utc_now
from tests.console.conftest import ConsoleCA
from tests.console.test_console import _chained_audit, _token
from tests.provisioner.openid_provider import OpenIDProvider, signing_key

CALLBACK = "https://ca.test/console/oidc/callback"
ADMIN_EMAIL = "alice@ca.test"
CLIENT = {"client_id": "console", "client_secret": "console-secret-1", "redirect_uris": [CALLBACK],
          "grant_types": ["authorization_code"], "response_types": ["code"],
          "token_endpoint_auth_method": "client_secret_basic"}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    accounts = {"grace@ca.test": {"groups": ["pki-viewers"]}, "mallory@ca.test": {"groups": ["staff"]},
                "eve": {"email": "eve@ca.test", "email_verified": False}}  # subject "eve"
    started = OpenIDProvider(tmp_path_factory.mktemp("op"), [CLIENT], [signing_key("console-key")],
                             accounts=accounts).start()
    yield started
    started.stop()


def _options(provider: OpenIDProvider) -> OidcLoginOptions:
    return OidcLoginOptions(configuration_endpoint=provider.configuration_endpoint, client_id="console",
                            client_secret=CLIENT["client_secret"], redirect_uri=CALLBACK,
                            admins=frozenset({ADMIN_EMAIL, "eve@ca.test"}), viewer_groups=frozenset({"pki-viewers"}))


def _start(http: TestClient, provider: OpenIDProvider) -> str:
    """``/oidc/login``: the provider's authorization URL it redirects to."""
    response = http.get("/console/oidc/login", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _login(http: TestClient, provider: OpenIDProvider, who: str) -> Any:
    """The whole login of ``who``: the console's answer to the provider's redirect back."""
    back = provider.browse(_start(http, provider), who)
    assert back.startswith(CALLBACK), back
    return http.get(back.removeprefix("https://ca.test"), follow_redirects=False)


def _events(audit: ChainLog) -> list[tuple[str, dict[str, Any]]]:
    return [(r.event, json.loads(r.data)) for r in audit.page(event_prefix="console.").records]


def test_an_admin_logs_in_revokes_and_logs_out(console_ca: ConsoleCA, provider: OpenIDProvider) -> None:
    audit = _chained_audit(console_ca)
    leaf = console_ca.issue("retire.ca.test")
    http = console_ca.client(oidc=_options(provider), audit_sink=audit)
    refused = http.get("/console/")
    assert refused.status_code == 401 and 'id="oidc-login"' in refused.text and "retire.ca.test" not in refused.text

    authorize = _start(http, provider)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{provider.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["console"]
    assert all(len(query[name][0]) >= 32 for name in ("state", "nonce", "code_challenge"))
    cookie = http.cookies.get("__Host-console-login")
    assert cookie is not None and cookie not in authorize  # the browser's token never leaves it

    back = http.get(provider.browse(authorize, ADMIN_EMAIL).removeprefix("https://ca.test"), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/console/"
    set_cookie = back.headers["set-cookie"]
    assert re.search(r"__Host-console-session=[A-Za-z0-9_-]{43}; HttpOnly; Max-Age=28800; Path=/; SameSite=lax; "
                     r"Secure", set_cookie), set_cookie
    overview = http.get("/console/")
    assert overview.status_code == 200 and f"{ADMIN_EMAIL} (admin)" in overview.text and 'id="logout"' in overview.text

    form = http.get(f"/console/certificates/{leaf.serial_number}/revoke")
    assert form.status_code == 200
    without_csrf = http.post(f"/console/certificates/{leaf.serial_number}/revoke", data={"reason_code": "4"})
    assert without_csrf.status_code == 403 and not console_ca.authority.is_revoked(str(leaf.serial_number))
    done = http.post(f"/console/certificates/{leaf.serial_number}/revoke", follow_redirects=False,
                     data={"reason_code": "4", "reason": "moved", "csrf_token": _token(form.text)})
    assert done.status_code == 303 and console_ca.authority.is_revoked(str(leaf.serial_number))

    session = http.cookies.get("__Host-console-session")
    logout = http.post("/console/logout", data={"csrf_token": _token(overview.text)}, follow_redirects=False)
    assert logout.status_code == 303
    assert http.get("/console/").status_code == 401
    again = console_ca.client(oidc=_options(provider))
    again.cookies.set("__Host-console-session", str(session))  # the cookie, replayed: its session is gone
    assert again.get("/console/").status_code == 401

    events = _events(audit)
    assert events == [("console.login", {"actor": ADMIN_EMAIL, "role": "admin", "method": "oidc",
                                         "subject": f"{provider.issuer}#{ADMIN_EMAIL}"})]
    assert str(session) not in json.dumps(events) and CLIENT["client_secret"] not in json.dumps(events)


def test_a_person_not_named_is_refused_a_viewer_may_not_revoke(console_ca: ConsoleCA,
                                                               provider: OpenIDProvider) -> None:
    audit = _chained_audit(console_ca)
    leaf = console_ca.issue("keep.ca.test")
    stranger = console_ca.client(oidc=_options(provider), audit_sink=audit)
    refused = _login(stranger, provider, "mallory@ca.test")
    assert refused.status_code == 403 and "not named in console.oidc" in refused.text
    assert "__Host-console-session" not in refused.headers.get("set-cookie", "")
    assert stranger.get("/console/certificates").status_code == 401

    unverified = console_ca.client(oidc=_options(provider), audit_sink=audit)  # named, but not a verified email
    assert _login(unverified, provider, "eve").status_code == 403

    viewer = console_ca.client(oidc=_options(provider), audit_sink=audit)
    assert _login(viewer, provider, "grace@ca.test").status_code == 303  # by the groups claim
    assert "grace@ca.test (viewer)" in viewer.get("/console/certificates").text
    assert viewer.get(f"/console/certificates/{leaf.serial_number}/revoke").status_code == 403
    assert [(e, d.get("actor", d.get("reason"))) for e, d in _events(audit)] == [
        ("console.login.refused", "mallory@ca.test is not named in console.oidc "
                                  "(admins, adminGroups, viewers, viewerGroups)"),
        ("console.login.refused", "eve is not named in console.oidc "
                                  "(admins, adminGroups, viewers, viewerGroups)"),
        ("console.login", "grace@ca.test")]


def test_tampered_state_replayed_callback_and_foreign_nonce_are_refused(console_ca: ConsoleCA,
                                                                      provider: OpenIDProvider) -> None:
    http = console_ca.client(oidc=_options(provider))
    back = provider.browse(_start(http, provider), ADMIN_EMAIL).removeprefix("https://ca.test")
    tampered = re.sub(r"state=[^&]+", "state=forged", back)
    assert http.get(tampered, follow_redirects=False).status_code == 401
    assert http.get(back, follow_redirects=False).status_code == 400  # the login was used up by the first try

    back = provider.browse(_start(http, provider), ADMIN_EMAIL).removeprefix("https://ca.test")
    assert http.get(back, follow_redirects=False).status_code == 303
    assert http.get(back, follow_redirects=False).status_code == 400  # a callback replayed

    other = console_ca.client(oidc=_options(provider))  # another browser: the code and state, without its cookie
    stolen = provider.browse(_start(http, provider), ADMIN_EMAIL).removeprefix("https://ca.test")
    assert other.get(stolen, follow_redirects=False).status_code == 400

    back = provider.browse(_start(http, provider), ADMIN_EMAIL).removeprefix("https://ca.test")
    with console_ca.database.engine.begin() as conn:  # the login expects another nonce than the token's
        for row in conn.execute(select(console_sessions).where(console_sessions.c.kind == "login")).all():
            conn.execute(update(console_sessions).where(console_sessions.c.token_hash == row.token_hash)
                         .values(data={**row.data, "nonce": "another-nonce"}))
    refused = http.get(back, follow_redirects=False)
    assert refused.status_code == 401 and "nonce" in refused.text


def test_an_unreachable_provider_is_a_503(console_ca: ConsoleCA, tmp_path: Path) -> None:
    options = OidcLoginOptions(configuration_endpoint="http://127.0.0.1:9/.well-known/openid-configuration",
                               client_id="console", redirect_uri=CALLBACK, admins=frozenset({ADMIN_EMAIL}))
    assert console_ca.client(oidc=options).get("/console/oidc/login").status_code == 503
    assert console_ca.client().get("/console/oidc/login").status_code == 404  # not configured


def test_roles_by_email_subject_and_group() -> None:
    options = OidcLoginOptions(configuration_endpoint="https://idp.test/.well-known/openid-configuration",
                               client_id="console", redirect_uri=CALLBACK, admins=frozenset({ADMIN_EMAIL, "sub-7"}),
                               admin_groups=frozenset({"PKI"}), viewers=frozenset({"bob@ca.test"}),
                               viewer_groups=frozenset({"ops"}))
    login = OidcLogin(options, utc_now)

    def role(subject: str, email: str = "", groups: tuple[str, ...] = ()) -> str:
        return login.role(Identity("https://idp.test", subject, email, groups))

    assert role("1", ADMIN_EMAIL) == role("SUB-7") == role("2", groups=("x", "PKI")) == ADMIN
    assert role("3", "bob@ca.test") == role("4", groups=("ops",)) == VIEWER
    for nobody in (("5", "carol@ca.test", ("pki",)), ("6", "", ())):
        with pytest.raises(Forbidden):
            role(*nobody)
