"""The ACME provisioner (step-ca's ``ACME`` type): authorises orders, not tokens.

step-ca's fields: ``name``, ``forceCN``, ``challenges`` (default all three),
``claims``, ``termsOfService``, ``website``, ``caaIdentities``, ``requireEAB``,
and ``policy.x509`` (``allow``/``deny`` of ``dns`` and ``ip``, ``allowWildcardNames``).

Our additions, for tests and unusual networks (step-ca has no equivalent in ca.json):

- ``challengePorts``: ``{"http-01": 80, "tls-alpn-01": 443}``, the ports validation connects to;
- ``challengeResolver``: ``"host:port"`` of the DNS server that dns-01 queries
  (default: the system's resolvers).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from appliance.errors import BadRequest, Forbidden, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions
from appliance.provisioner.names import Names

CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")
DEFAULT_PORTS = {"http-01": 80, "tls-alpn-01": 443}


def _strings(config: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = config.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{where}: '{name}' must be a list of strings")
    return tuple(value)


def _dns_matches(pattern: str, name: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


def _ip_matches(pattern: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address in ipaddress.ip_network(pattern, strict=False)


@dataclass(frozen=True)
class NamePolicy:
    """step-ca's ``policy.x509``: a name must match ``allow`` (when given) and not ``deny``."""

    allow_dns: tuple[str, ...] = ()
    allow_ips: tuple[str, ...] = ()
    deny_dns: tuple[str, ...] = ()
    deny_ips: tuple[str, ...] = ()
    allow_wildcards: bool = True

    @classmethod
    def from_config(cls, policy: Any, where: str) -> NamePolicy:
        x509 = (policy or {}).get("x509") if isinstance(policy, dict) else None
        if not x509:
            return cls()
        if not isinstance(x509, dict):
            raise BadRequest(f"{where}: policy.x509 must be an object")
        allow, deny = x509.get("allow") or {}, x509.get("deny") or {}
        result = cls(_strings(allow, "dns", where), _strings(allow, "ip", where), _strings(deny, "dns", where),
                     _strings(deny, "ip", where), bool(x509.get("allowWildcardNames", False)))
        try:
            for network in (*result.allow_ips, *result.deny_ips):
                ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise BadRequest(f"{where}: policy.x509: {exc}") from None
        return result

    @property
    def restricts(self) -> bool:
        return bool(self.allow_dns or self.allow_ips or self.deny_dns or self.deny_ips)

    def refusal(self, name: str) -> str | None:
        """Why ``name`` (a DNS name or an IP address) is refused, or None."""
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            address = None
        if address is not None:
            if any(_ip_matches(p, address) for p in self.deny_ips):
                return f"IP address {name} is denied by policy"
            if (self.allow_ips or self.allow_dns) and not any(_ip_matches(p, address) for p in self.allow_ips):
                return f"IP address {name} is not allowed by policy"
            return None
        if name.startswith("*.") and self.restricts and not self.allow_wildcards:
            return f"wildcard name {name} is not allowed by policy"
        base = name[2:] if name.startswith("*.") else name
        if any(_dns_matches(p, base) or _dns_matches(p, name) for p in self.deny_dns):
            return f"name {name} is denied by policy"
        if (self.allow_dns or self.allow_ips) and not any(_dns_matches(p, base) for p in self.allow_dns):
            return f"name {name} is not allowed by policy"
        return None


class ACMEProvisioner(Provisioner):
    """Orders are authorised by challenges; names by the policy; durations by the claims."""

    type_name = "ACME"
    type_code = 6

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.challenges = _strings(config, "challenges", where) or CHALLENGE_TYPES
        unknown = sorted(set(self.challenges) - set(CHALLENGE_TYPES))
        if unknown:
            raise BadRequest(f"{where}: unsupported challenges {', '.join(unknown)}")
        self.force_cn = bool(config.get("forceCN", False))
        self.require_eab = bool(config.get("requireEAB", False))
        self.terms_of_service = str(config.get("termsOfService") or "")
        self.website = str(config.get("website") or "")
        self.caa_identities = _strings(config, "caaIdentities", where)
        self.policy = NamePolicy.from_config(config.get("policy"), where)
        self.challenge_ports = self._ports(config.get("challengePorts"), where)
        resolver = config.get("challengeResolver") or ""
        if not isinstance(resolver, str):
            raise BadRequest(f"{where}: 'challengeResolver' must be a \"host:port\" string")
        self.challenge_resolver = resolver

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

    def rejected_names(self, names: list[str]) -> dict[str, str]:
        """The names the policy refuses, each with the reason."""
        refusals = {name: self.policy.refusal(name) for name in names}
        return {name: reason for name, reason in refusals.items() if reason}

    def authorize_names(self, names: Names) -> None:
        """``Forbidden`` unless the policy allows every name."""
        rejected = self.rejected_names(list(names.as_strings()))
        if rejected:
            raise Forbidden("; ".join(rejected.values()))

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        raise Unauthorized(f"provisioner '{self.name}' is an ACME provisioner: it does not accept tokens")

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is an ACME provisioner: it does not accept tokens")
