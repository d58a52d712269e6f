"""ca.json ``console``: every field acts, a bad or unknown one is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.config.console import ConsoleOptions, OidcLoginOptions, parse_console
from appliance.config.errors import ConfigError


def test_defaults_off() -> None:
    assert parse_console({}) == ConsoleOptions()


def test_parsed() -> None:
    options = parse_console({"enabled": True, "admins": ["Admin@CA.test"], "viewers": ["ops"], "publicView": False})
    assert options.admins == frozenset({"admin@ca.test"}) and options.viewers == frozenset({"ops"})


OIDC = {"configurationEndpoint": "https://idp.test/.well-known/openid-configuration", "clientID": "console",
        "redirectURI": "https://ca.test/console/oidc/callback", "admins": ["Alice@Example.com"]}


def test_oidc_parsed() -> None:
    options = parse_console({"enabled": True, "oidc": {**OIDC, "clientSecret": "s", "adminGroups": ["PKI"],
                                                       "viewers": ["sub-1"], "viewerGroups": ["ops"]}})
    assert options.oidc == OidcLoginOptions(
        configuration_endpoint=OIDC["configurationEndpoint"], client_id="console", redirect_uri=OIDC["redirectURI"],
        client_secret="s", admins=frozenset({"alice@example.com"}), admin_groups=frozenset({"PKI"}),
        viewers=frozenset({"sub-1"}), viewer_groups=frozenset({"ops"}))
    assert "'s'" not in repr(options)  # the client secret is never printed
    assert parse_console({"enabled": True, "oidc": OIDC}).admins == frozenset()  # OIDC alone lets people in


@pytest.mark.parametrize("section, field", [
    ({"enabled": True, "oidc": {}}, "console.oidc.clientID"),
    ({"enabled": True, "oidc": []}, "console.oidc"),
    ({"enabled": True, "oidc": {**OIDC, "scopes": ["x"]}}, "console.oidc.scopes"),
    ({"enabled": True, "oidc": {**OIDC, "configurationEndpoint": "idp.test"}}, "console.oidc.configurationEndpoint"),
    ({"enabled": True, "oidc": {**OIDC, "redirectURI": "http://ca.test/console/oidc/callback"}},
     "console.oidc.redirectURI"),
    ({"enabled": True, "oidc": {**OIDC, "redirectURI": "https://ca.test/callback"}}, "console.oidc.redirectURI"),
    ({"enabled": True, "oidc": {**OIDC, "clientSecret": 5}}, "console.oidc.clientSecret"),
    ({"enabled": True, "oidc": {**OIDC, "adminGroups": "pki"}}, "console.oidc.adminGroups"),
    ({"enabled": True, "oidc": {**OIDC, "admins": []}}, "console.oidc"),
    ({"oidc": OIDC}, "console.enabled"),
    ({"enabled": "yes", "admins": ["a"]}, "console.enabled"),
    ({"enabled": True, "admins": "a"}, "console.admins"),
    ({"enabled": True, "viewers": [""]}, "console.viewers"),
    ({"enabled": True}, "console.enabled"),
    ({"admins": ["a"]}, "console.enabled"),
])
def test_refused(section: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_console(section)
