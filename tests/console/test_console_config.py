"""ca.json ``console``: every field acts, a bad or unknown one is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.config.console import ConsoleOptions, parse_console
from appliance.config.errors import ConfigError


def test_defaults_off() -> None:
    assert parse_console({}) == ConsoleOptions()


def test_parsed() -> None:
    options = parse_console({"enabled": True, "admins": ["Admin@CA.test"], "viewers": ["ops"], "publicView": False})
    assert options.admins == frozenset({"admin@ca.test"}) and options.viewers == frozenset({"ops"})


@pytest.mark.parametrize("section, field", [
    ({"enabled": True, "oidc": {}}, "console.oidc"),
    ({"enabled": "yes", "admins": ["a"]}, "console.enabled"),
    ({"enabled": True, "admins": "a"}, "console.admins"),
    ({"enabled": True, "viewers": [""]}, "console.viewers"),
    ({"enabled": True}, "console.enabled"),
    ({"admins": ["a"]}, "console.enabled"),
])
def test_refused(section: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_console(section)
