"""The rules of a name policy, one class per kind of name, matched as step-ca's
policy engine matches them (itself adapted from Go's crypto/x509 name constraints):

- a domain rule ``example.com`` matches exactly that name; ``*.example.com`` (or
  X.509's ``.example.com``) matches exactly one more label (``www.example.com``,
  not ``example.com`` nor ``a.b.example.com``); comparison ignores case;
- an IP rule is a CIDR or a single address;
- an email rule is a mailbox (``ops@example.com``) or a domain (``example.com``,
  ``@example.com``), the domain matched exactly;
- a URI rule is a domain rule on the URI's host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Labels = tuple[str, ...]


class RuleError(ValueError):
    """A rule in ca.json cannot be parsed."""


class Unmatchable(ValueError):
    """A name that rules of its kind cannot be matched against (a URI without a host name)."""


def reverse_labels(domain: str) -> Labels | None:
    """``www.Example.com`` -> ``("com", "example", "www")`` (IDNA-encoded); None if a
    label is empty or holds a space or control character."""
    try:
        ascii_name = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_name.lower().split(".")
    if not all(label and all(32 < ord(c) < 127 for c in label) for label in labels):
        return None
    return tuple(reversed(labels))


def _domain(text: str, what: str) -> tuple[Labels, bool]:
    """A domain rule's labels and whether it asks for exactly one more label."""
    rule = text.strip().lower()
    subdomain = rule.startswith(("*.", "."))
    rule = rule[2:] if rule.startswith("*.") else rule[1:] if subdomain else rule
    labels = reverse_labels(rule) if rule and "*" not in rule else None
    if labels is None:
        raise RuleError(f"{what} rule '{text}' is not a domain (a wildcard may only be the leftmost label '*.')")
    return labels, subdomain


@dataclass(frozen=True)
class DomainRule:
    """A ``dns`` or ``uri`` rule."""

    text: str
    labels: Labels
    subdomain: bool

    @classmethod
    def parse(cls, text: str, what: str = "dns") -> DomainRule:
        return cls(text, *_domain(text, what))

    def matches(self, labels: Labels) -> bool:
        return len(labels) == len(self.labels) + self.subdomain and labels[:len(self.labels)] == self.labels


@dataclass(frozen=True)
class IPRule:
    """An ``ip`` rule: a network (a single address is a /32 or /128)."""

    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    @classmethod
    def parse(cls, text: str) -> IPRule:
        try:
            return cls(text, ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise RuleError(f"ip rule '{text}' is neither an IP address nor a CIDR") from None

    def matches(self, address: IPAddress) -> bool:
        """Containment; an IPv4-mapped IPv6 address counts as its IPv4 address (as in Go)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.version == self.network.version and address in self.network


@dataclass(frozen=True)
class EmailRule:
    """An ``email`` rule: a whole mailbox, or every mailbox of one domain."""

    text: str
    local: str | None
    domain: Labels

    @classmethod
    def parse(cls, text: str) -> EmailRule:
        rule = text.strip().lower().removeprefix("@")
        local, at, domain = rule.rpartition("@")
        labels = reverse_labels(domain) if domain and "*" not in rule and not rule.startswith(".") else None
        if labels is None or "@" in local or (at and not local):
            raise RuleError(f"email rule '{text}' is neither a mailbox nor a domain")
        return cls(text, local if at else None, labels)

    def matches(self, local: str, domain: Labels) -> bool:
        return domain == self.domain and (self.local is None or local == self.local)


def uri_host(uri: str) -> Labels:
    """The labels of a URI's host; ``Unmatchable`` when it has none or it is an IP address."""
    host = urlsplit(uri).hostname or ""
    if not host or "*" in host:
        raise Unmatchable(f"URI '{uri}' has no host name to match")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = reverse_labels(host)
        if labels is not None:
            return labels
        raise Unmatchable(f"URI '{uri}' has an invalid host name") from None
    raise Unmatchable(f"URI '{uri}' names an IP address, which URI rules cannot match")
