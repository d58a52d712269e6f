"""step-ca's X.509 name policy (``policy.x509`` in ca.json, at authority and at
provisioner level): ``allow`` and ``deny`` lists of ``cn``, ``dns``, ``ip``,
``email`` and ``uri`` rules, and ``allowWildcardNames`` (default false).

A name is refused when a ``deny`` rule matches it (deny wins), or when an
``allow`` list exists and no rule in it matches (when ``allow`` has rules of
other kinds only, every name of this kind is refused). A policy without rules
allows everything. The subject common name is allowed by a ``cn`` rule, else
checked as the kind of name it is.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence, TypeVar
from urllib.parse import urlsplit

from appliance.errors import BadRequest, Forbidden
from appliance.policy.rules import (DomainRule, EmailRule, IPAddress, IPRule, RuleError, Unmatchable,
                                    reverse_labels, uri_host)

KINDS = ("cn", "dns", "ip", "email", "uri")
R = TypeVar("R")


def name_kind(value: str) -> str:
    """How step splits a name given as text: ``ip``, ``uri``, ``email`` or ``dns``."""
    try:
        ipaddress.ip_address(value.strip("[]"))
        return "ip"
    except ValueError:
        pass
    if ":" in value and urlsplit(value).scheme:
        return "uri"
    return "email" if "@" in value else "dns"


class NamesRefused(Forbidden):
    """Names a policy refuses; ``refused`` maps each name to the reason."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__("; ".join(refused.values()))
        self.refused = refused


def _strings(rules: dict[str, Any], kind: str, where: str) -> list[str]:
    value = rules.get(kind) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{where}.{kind} must be a list of strings")
    return value


@dataclass(frozen=True)
class NameRules:
    """One side, ``allow`` or ``deny``, of ``policy.x509``."""

    cn: tuple[str, ...] = ()
    dns: tuple[DomainRule, ...] = ()
    ip: tuple[IPRule, ...] = ()
    email: tuple[EmailRule, ...] = ()
    uri: tuple[DomainRule, ...] = ()

    @classmethod
    def parse(cls, value: Any, where: str) -> NameRules:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise BadRequest(f"{where} must be an object")
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise BadRequest(f"{where}: unknown {', '.join(unknown)} (the kinds are {', '.join(KINDS)})")
        try:
            return cls(
                cn=tuple(s.strip().lower() for s in _strings(value, "cn", where)),
                dns=tuple(DomainRule.parse(s) for s in _strings(value, "dns", where)),
                ip=tuple(IPRule.parse(s) for s in _strings(value, "ip", where)),
                email=tuple(EmailRule.parse(s) for s in _strings(value, "email", where)),
                uri=tuple(DomainRule.parse(s, "uri") for s in _strings(value, "uri", where)),
            )
        except RuleError as exc:
            raise BadRequest(f"{where}: {exc}") from None

    def __bool__(self) -> bool:
        return bool(self.cn or self.dns or self.ip or self.email or self.uri)


@dataclass(frozen=True)
class NamePolicy:
    """One level's ``policy.x509``; ``owner`` names it in refusals ("authority policy")."""

    owner: str = "policy"
    allow: NameRules = field(default_factory=NameRules)
    deny: NameRules = field(default_factory=NameRules)
    allow_wildcard_names: bool = False

    @classmethod
    def from_config(cls, policy: Any, owner: str) -> NamePolicy:
        """From a ca.json ``policy`` object (its ``ssh`` member is not ours to check)."""
        if policy is None:
            return cls(owner)
        if not isinstance(policy, dict) or not isinstance(policy.get("x509", {}), dict):
            raise BadRequest(f"{owner}: policy and policy.x509 must be objects")
        x509 = policy.get("x509") or {}
        wildcards = x509.get("allowWildcardNames", False)
        if not isinstance(wildcards, bool):
            raise BadRequest(f"{owner}: policy.x509.allowWildcardNames must be true or false")
        return cls(owner, NameRules.parse(x509.get("allow"), f"{owner}: policy.x509.allow"),
                   NameRules.parse(x509.get("deny"), f"{owner}: policy.x509.deny"), wildcards)

    def refusals(self, *, dns: Iterable[str] = (), ips: Iterable[IPAddress] = (), emails: Iterable[str] = (),
                 uris: Iterable[str] = (), common_name: str = "") -> dict[str, str]:
        """The names this policy refuses, each with the reason (rule and owner named)."""
        if not (self.allow or self.deny):
            return {}
        checks = [*((n, self._dns(n)) for n in sorted(dns)),
                  *((str(a), self._ip(a)) for a in sorted(ips, key=lambda a: (a.version, int(a)))),
                  *((n, self._email(n)) for n in sorted(emails)), *((n, self._uri(n)) for n in sorted(uris))]
        if common_name:
            checks.append((common_name, self._common_name(common_name)))
        refused: dict[str, str] = {}
        for name, reason in checks:
            if reason is not None:
                refused.setdefault(name, reason)
        return refused

    def _check(self, kind: str, name: str, deny: Sequence[R], allow: Sequence[R], matches: Callable[[R], bool]
               ) -> str | None:
        try:
            denied = next((rule for rule in deny if matches(rule)), None)
            if denied is not None:
                return f"{kind} name '{name}' is denied by rule '{getattr(denied, 'text', denied)}' of the {self.owner}"
            if not self.allow or any(matches(rule) for rule in allow):
                return None
        except Unmatchable as exc:
            return f"{kind} name '{name}' cannot be checked against the {self.owner}: {exc}"
        if not allow:
            return f"{kind} name '{name}' is not allowed by the {self.owner}, which allows no {kind} names"
        return f"{kind} name '{name}' is not allowed by any rule of the {self.owner}"

    def _dns(self, name: str) -> str | None:
        labels = reverse_labels(name)
        wildcard = labels is not None and labels[-1] == "*"
        if labels is None or any("*" in label for label in (labels[:-1] if wildcard else labels)):
            return f"dns name '{name}' is not a valid DNS name for the {self.owner}"
        if wildcard and not self.allow_wildcard_names:
            return f"wildcard name '{name}' is not allowed by the {self.owner} (allowWildcardNames is false)"
        return self._check("dns", name, self.deny.dns, self.allow.dns, lambda rule: rule.matches(labels))

    def _ip(self, address: IPAddress) -> str | None:
        return self._check("ip", str(address), self.deny.ip, self.allow.ip, lambda rule: rule.matches(address))

    def _email(self, name: str) -> str | None:
        local, _, domain = name.lower().rpartition("@")
        labels = reverse_labels(domain) if local else None
        if labels is None:
            return f"email name '{name}' is not a valid mailbox for the {self.owner}"
        return self._check("email", name, self.deny.email, self.allow.email, lambda rule: rule.matches(local, labels))

    def _uri(self, name: str) -> str | None:
        return self._check("uri", name, self.deny.uri, self.allow.uri, lambda rule: rule.matches(uri_host(name)))

    def _common_name(self, name: str) -> str | None:
        folded = name.strip().lower()
        if folded in self.deny.cn:
            return f"common name '{name}' is denied by rule '{folded}' of the {self.owner}"
        if folded in self.allow.cn:
            return None
        kind = name_kind(name)
        if kind == "ip":
            return self._ip(ipaddress.ip_address(name.strip("[]")))
        if kind == "uri":
            return self._uri(name)
        return self._email(folded) if kind == "email" else self._dns(folded)
