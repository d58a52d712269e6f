"""The ACME provisioner (step-ca's ``ACME`` type): authorises orders, not tokens.

step-ca's fields: ``name``, ``forceCN``, ``challenges`` (default all three),
``claims``, ``termsOfService``, ``website``, ``caaIdentities``, ``requireEAB``,
and ``policy`` (read by every provisioner type: ``appliance.policy``).

Our additions, for tests and unusual networks (step-ca has no equivalent in ca.json):

- ``challengePorts``: ``{"http-01": 80, "tls-alpn-01": 443}``, the ports validation connects to;
- ``challengeResolver``: ``"host:port"`` of the DNS server that dns-01 queries
  (default: the system's resolvers);
- ``profiles``: ACME profiles a new-order may name (``appliance.provisioner.acme_profiles``).
"""

from __future__ import annotations

from typing import Any

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner.acme_profiles import parse_profiles
from appliance.provisioner.checks import config_strings
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions
from appliance.provisioner.types import PROVISIONER_TYPES

CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")
DEFAULT_PORTS = {"http-01": 80, "tls-alpn-01": 443}


class ACMEProvisioner(Provisioner):
    """Orders are authorised by challenges; names by the policies; durations by the claims."""

    kind = PROVISIONER_TYPES["ACME"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.challenges = config_strings(config, "challenges", where) or CHALLENGE_TYPES
        unknown = sorted(set(self.challenges) - set(CHALLENGE_TYPES))
        if unknown:
            raise BadRequest(f"{where}: unsupported challenges {', '.join(unknown)}")
        self.force_cn = bool(config.get("forceCN", False))
        self.require_eab = bool(config.get("requireEAB", False))
        self.terms_of_service = str(config.get("termsOfService") or "")
        self.website = str(config.get("website") or "")
        self.caa_identities = config_strings(config, "caaIdentities", where)
        self.challenge_ports = self._ports(config.get("challengePorts"), where)
        resolver = config.get("challengeResolver") or ""
        if not isinstance(resolver, str):
            raise BadRequest(f"{where}: 'challengeResolver' must be a \"host:port\" string")
        self.challenge_resolver = resolver
        profiles = parse_profiles(config, where)
        self.profile_descriptions = {name: p.description for name, p in profiles.items()}
        self._profiles = {name: self._profile(name, p.config, context) for name, p in profiles.items()}

    @staticmethod
    def _profile(name: str, config: dict[str, Any], context: ProvisionerContext) -> ACMEProvisioner:
        try:
            return ACMEProvisioner(config, context)
        except BadRequest as exc:
            raise BadRequest(f"profile '{name}' of {exc.message}") from None

    def with_profile(self, profile: str | None) -> ACMEProvisioner:
        """The provisioner an order naming ``profile`` issues with (none: this one);
        ``KeyError`` if this provisioner has no such profile."""
        return self if profile is None else self._profiles[profile]

    @staticmethod
    def _ports(value: Any, where: str) -> dict[str, int]:
        ports = dict(DEFAULT_PORTS)
        if value is None:
            return ports
        if not isinstance(value, dict) or not all(
                k in DEFAULT_PORTS and isinstance(v, int) and 0 < v < 65536 for k, v in value.items()):
            raise BadRequest(f"{where}: 'challengePorts' must map http-01/tls-alpn-01 to port numbers")
        ports.update(value)
        return ports

    @property
    def credential_id(self) -> str:
        """Empty, as in step-ca's provisioner extension for ACME."""
        return ""

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        raise Unauthorized(f"provisioner '{self.name}' is an ACME provisioner: it does not accept tokens")

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is an ACME provisioner: it does not accept tokens")
