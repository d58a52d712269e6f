"""step-ca's SSH name policy (``policy.ssh`` in ca.json, at authority and provisioner
level): ``user`` and ``host`` sides, each with ``allow`` and ``deny`` rules.

A user certificate's principals are email addresses (``email`` rules) when they hold an
``@``, else user names (``principal`` rules); a host certificate's are IP addresses
(``ip`` rules) or DNS names (``dns`` rules), or host names listed as ``principal``.
Deny wins; once a side allows anything, a principal that no allow rule matches is
refused; ``"*"`` as a principal rule matches every principal. No rules: all allowed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from appliance.errors import BadRequest
from appliance.policy.x509 import NamePolicy, NameRules

#: The rule kinds of each side.
SIDE_KINDS = {"user": ("email", "principal"), "host": ("dns", "ip", "principal")}


def _principals(rules: dict[str, Any], where: str) -> frozenset[str]:
    value = rules.get("principal") or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{where}.principal must be a list of strings")
    return frozenset(value)


@dataclass(frozen=True)
class SshSidePolicy:
    """One side (``user`` or ``host``) of ``policy.ssh``."""

    kind: str
    owner: str
    names: NamePolicy
    allow_principals: frozenset[str] = frozenset()
    deny_principals: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, kind: str, value: Any, owner: str) -> SshSidePolicy:
        where = f"{owner}: policy.ssh.{kind}"
        if value is None:
            return cls(kind, owner, NamePolicy(owner))
        if not isinstance(value, dict) or set(value) - {"allow", "deny"}:
            raise BadRequest(f"{where} must be an object with allow and deny")
        sides: dict[str, tuple[NameRules, frozenset[str]]] = {}
        for side in ("allow", "deny"):
            rules = value.get(side) or {}
            if not isinstance(rules, dict):
                raise BadRequest(f"{where}.{side} must be an object")
            unknown = sorted(set(rules) - set(SIDE_KINDS[kind]))
            if unknown:
                raise BadRequest(f"{where}.{side}: unknown {', '.join(unknown)} "
                                 f"(the kinds are {', '.join(SIDE_KINDS[kind])})")
            names = {name: rules[name] for name in rules if name != "principal"}
            sides[side] = (NameRules.parse(names, f"{where}.{side}"), _principals(rules, f"{where}.{side}"))
        (allow, allow_principals), (deny, deny_principals) = sides["allow"], sides["deny"]
        return cls(kind, owner, NamePolicy(f"{owner} ({kind} certificates)", allow, deny),
                   allow_principals, deny_principals)

    @property
    def allows_something(self) -> bool:
        return bool(self.names.allow or self.allow_principals)

    def _principal(self, name: str) -> str | None:
        if name in self.deny_principals or "*" in self.deny_principals:
            return f"principal '{name}' is denied by the {self.names.owner}"
        if self.allows_something and not (name in self.allow_principals or "*" in self.allow_principals):
            return f"principal '{name}' is not allowed by the {self.names.owner}"
        return None

    def _name(self, name: str) -> str | None:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            address = None
        if self.kind == "user":
            if address is not None:
                return f"principal '{name}': IP principals are not expected in SSH user certificates"
            found = self.names.refusals(emails=[name])
        elif address is not None:
            found = self.names.refusals(ips=[address])
        else:
            found = self.names.refusals(dns=[name])
        if found:
            return next(iter(found.values()))
        if not self.names.allow and self.allows_something:
            return f"principal '{name}' is not allowed by the {self.names.owner}"
        return None

    def refusal(self, principal: str) -> str | None:
        """Why this side refuses ``principal`` (None: allowed)."""
        if self.kind == "user" and "@" not in principal and not _is_ip(principal):
            return self._principal(principal)
        if self.kind == "host" and (principal in self.allow_principals or principal in self.deny_principals):
            return self._principal(principal)
        return self._name(principal)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SshPolicy:
    """One level's ``policy.ssh``."""

    user: SshSidePolicy = field(default_factory=lambda: SshSidePolicy.parse("user", None, "policy"))
    host: SshSidePolicy = field(default_factory=lambda: SshSidePolicy.parse("host", None, "policy"))

    @classmethod
    def from_config(cls, policy: Any, owner: str) -> SshPolicy:
        """From a ca.json ``policy`` object (its ``x509`` member is ``NamePolicy``'s)."""
        ssh = policy.get("ssh") if isinstance(policy, dict) else None
        if ssh is not None and (not isinstance(ssh, dict) or set(ssh) - {"user", "host"}):
            raise BadRequest(f"{owner}: policy.ssh must be an object with user and host")
        ssh = ssh or {}
        return cls(SshSidePolicy.parse("user", ssh.get("user"), owner),
                   SshSidePolicy.parse("host", ssh.get("host"), owner))

    def refusals(self, cert_type: str, principals: list[str]) -> dict[str, str]:
        """The principals this policy refuses for a ``user`` or ``host`` certificate, with reasons."""
        side = self.user if cert_type == "user" else self.host
        refused: dict[str, str] = {}
        for principal in principals:
            reason = side.refusal(principal)
            if reason is not None:
                refused.setdefault(principal, reason)
        return refused
