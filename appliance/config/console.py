"""ca.json ``console`` (ours, not step-ca's): the web console at ``/console`` on the
HTTPS address. Visitors are identified by the client certificate they present over
mTLS (issued by this CA, not revoked): ``admins`` may view and revoke, ``viewers``
may view; a name is the certificate's common name or one of its SANs.
``publicView`` shows the read-only pages to visitors without a certificate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.config.errors import ConfigError

FIELDS = ("enabled", "publicView", "admins", "viewers")


@dataclass(frozen=True)
class ConsoleOptions:
    """``console.enabled``, ``publicView``, ``admins`` and ``viewers`` (names, lower case)."""

    enabled: bool = False
    public_view: bool = False
    admins: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()


def _flag(section: dict[str, Any], name: str) -> bool:
    value = section.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"ca.json: 'console.{name}' must be true or false, not {value!r}")
    return value


def _names(section: dict[str, Any], name: str) -> frozenset[str]:
    value = section.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"ca.json: 'console.{name}' must be a list of names (common names or SANs)")
    return frozenset(v.strip().lower() for v in value)


def parse_console(section: dict[str, Any]) -> ConsoleOptions:
    """The ``console`` object; ``ConfigError`` naming the field for a bad or unknown member."""
    for name in section:
        if name not in FIELDS:
            raise ConfigError(f"ca.json: unknown field 'console.{name}' (known: {', '.join(FIELDS)})")
    options = ConsoleOptions(enabled=_flag(section, "enabled"), public_view=_flag(section, "publicView"),
                             admins=_names(section, "admins"), viewers=_names(section, "viewers"))
    if options.enabled and not (options.admins or options.viewers or options.public_view):
        raise ConfigError("ca.json: 'console.enabled' needs 'console.admins', 'console.viewers' or "
                          "'console.publicView': nobody could see it")
    if not options.enabled and (options.admins or options.viewers or options.public_view):
        raise ConfigError("ca.json: 'console' has settings but 'console.enabled' is not true: "
                          "nothing would serve them")
    return options
