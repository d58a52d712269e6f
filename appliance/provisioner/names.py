"""The subject alternative names a token authorises, split by kind as step does
(IP, email, URI, else DNS), and the check of a CSR's names against them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509

from appliance.policy import name_kind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Names:
    """A set of names by kind; DNS names and email domains compared case-insensitively."""

    dns: frozenset[str] = frozenset()
    ips: frozenset[IPAddress] = frozenset()
    emails: frozenset[str] = frozenset()
    uris: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, values: list[str] | tuple[str, ...]) -> Names:
        dns, ips, emails, uris = set(), set(), set(), set()
        for value in values:
            kind = name_kind(value)
            if kind == "ip":
                ips.add(ipaddress.ip_address(value.strip("[]")))
            elif kind == "uri":
                uris.add(value)
            elif kind == "email":
                emails.add(value.lower())
            else:
                dns.add(value.lower().rstrip("."))
        return cls(frozenset(dns), frozenset(ips), frozenset(emails), frozenset(uris))

    @classmethod
    def from_san(cls, san: x509.SubjectAlternativeName | None) -> Names:
        if san is None:
            return cls()
        return cls(
            dns=frozenset(n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)),
            ips=frozenset(san.get_values_for_type(x509.IPAddress)),  # type: ignore[arg-type]
            emails=frozenset(n.lower() for n in san.get_values_for_type(x509.RFC822Name)),
            uris=frozenset(san.get_values_for_type(x509.UniformResourceIdentifier)),
        )

    def __bool__(self) -> bool:
        return bool(self.dns or self.ips or self.emails or self.uris)

    def outside(self, allowed: Names) -> list[str]:
        """Names in ``self`` that ``allowed`` does not contain."""
        return sorted(
            [*(self.dns - allowed.dns), *(str(ip) for ip in self.ips - allowed.ips),
             *(self.emails - allowed.emails), *(self.uris - allowed.uris)]
        )

    def general_names(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted(self.dns)]
        names += [x509.IPAddress(ip) for ip in sorted(self.ips, key=lambda ip: (ip.version, int(ip)))]
        names += [x509.RFC822Name(e) for e in sorted(self.emails)]
        names += [x509.UniformResourceIdentifier(u) for u in sorted(self.uris)]
        return names

    def as_strings(self) -> tuple[str, ...]:
        return tuple(
            [*sorted(self.dns), *(str(ip) for ip in sorted(self.ips, key=lambda ip: (ip.version, int(ip)))),
             *sorted(self.emails), *sorted(self.uris)]
        )
