"""ca.json ``console`` (ours, not step-ca's): the web console at ``/console`` on the
HTTPS address. Visitors are identified by the client certificate they present over
mTLS (issued by this CA, not revoked): ``admins`` may view and revoke, ``viewers``
may view; a name is the certificate's common name or one of its SANs.
``publicView`` shows the read-only pages to visitors without a certificate.
``oidc`` lets people log in through an OpenID provider instead (authorization code
flow with PKCE): ``admins``/``viewers`` name emails or subjects (``sub``),
``adminGroups``/``viewerGroups`` the ``groups`` claim's values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from appliance.config.errors import ConfigError

FIELDS = ("enabled", "publicView", "admins", "viewers", "oidc")
OIDC_FIELDS = ("configurationEndpoint", "clientID", "clientSecret", "redirectURI", "admins", "adminGroups",
               "viewers", "viewerGroups")
#: Where the console answers the provider's redirect (it is mounted at ``/console``).
CALLBACK_PATH = "/console/oidc/callback"


@dataclass(frozen=True)
class OidcLoginOptions:
    """``console.oidc``: the provider, this client, and who may log in as what."""

    configuration_endpoint: str
    client_id: str
    redirect_uri: str
    client_secret: str = field(default="", repr=False)
    admins: frozenset[str] = frozenset()
    admin_groups: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()
    viewer_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConsoleOptions:
    """``console.enabled``, ``publicView``, ``admins`` and ``viewers`` (names, lower case), ``oidc``."""

    enabled: bool = False
    public_view: bool = False
    admins: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()
    oidc: OidcLoginOptions | None = None


def _flag(section: dict[str, Any], name: str) -> bool:
    value = section.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"ca.json: 'console.{name}' must be true or false, not {value!r}")
    return value


def _names(section: dict[str, Any], name: str, where: str = "console", lower: bool = True) -> frozenset[str]:
    value = section.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"ca.json: '{where}.{name}' must be a list of names")
    return frozenset(v.strip().lower() if lower else v.strip() for v in value)


def _url(section: dict[str, Any], name: str, schemes: tuple[str, ...]) -> str:
    value = section.get(name)
    if not isinstance(value, str) or urlsplit(value).scheme not in schemes or not urlsplit(value).netloc:
        raise ConfigError(f"ca.json: 'console.oidc.{name}' must be an {' or '.join(schemes)} URL")
    return value


def parse_oidc(section: Any) -> OidcLoginOptions:
    """``console.oidc``; ``ConfigError`` naming the field for a bad or unknown member."""
    if not isinstance(section, dict):
        raise ConfigError("ca.json: 'console.oidc' must be an object")
    for name in section:
        if name not in OIDC_FIELDS:
            raise ConfigError(f"ca.json: unknown field 'console.oidc.{name}' (known: {', '.join(OIDC_FIELDS)})")
    client_id, secret = section.get("clientID"), section.get("clientSecret", "")
    if not isinstance(client_id, str) or not client_id:
        raise ConfigError("ca.json: 'console.oidc.clientID' is required (the ID tokens' audience)")
    if not isinstance(secret, str):
        raise ConfigError("ca.json: 'console.oidc.clientSecret' must be a string")
    redirect = _url(section, "redirectURI", ("https",))
    if not urlsplit(redirect).path.endswith(CALLBACK_PATH):
        raise ConfigError(f"ca.json: 'console.oidc.redirectURI' must end with {CALLBACK_PATH}")
    where = "console.oidc"
    options = OidcLoginOptions(
        configuration_endpoint=_url(section, "configurationEndpoint", ("https", "http")), client_id=client_id,
        redirect_uri=redirect, client_secret=secret, admins=_names(section, "admins", where),
        admin_groups=_names(section, "adminGroups", where, lower=False), viewers=_names(section, "viewers", where),
        viewer_groups=_names(section, "viewerGroups", where, lower=False))
    if not (options.admins or options.admin_groups or options.viewers or options.viewer_groups):
        raise ConfigError("ca.json: 'console.oidc' needs 'admins', 'adminGroups', 'viewers' or 'viewerGroups': "
                          "nobody could log in")
    return options


def parse_console(section: dict[str, Any]) -> ConsoleOptions:
    """The ``console`` object; ``ConfigError`` naming the field for a bad or unknown member."""
    for name in section:
        if name not in FIELDS:
            raise ConfigError(f"ca.json: unknown field 'console.{name}' (known: {', '.join(FIELDS)})")
    options = ConsoleOptions(enabled=_flag(section, "enabled"), public_view=_flag(section, "publicView"),
                             admins=_names(section, "admins"), viewers=_names(section, "viewers"),
                             oidc=parse_oidc(section["oidc"]) if "oidc" in section else None)
    if options.enabled and not (options.admins or options.viewers or options.public_view or options.oidc):
        raise ConfigError("ca.json: 'console.enabled' needs 'console.admins', 'console.viewers', "
                          "'console.oidc' or 'console.publicView': nobody could see it")
    if not options.enabled and (options.admins or options.viewers or options.public_view or options.oidc):
        raise ConfigError("ca.json: 'console' has settings but 'console.enabled' is not true: "
                          "nothing would serve them")
    return options
