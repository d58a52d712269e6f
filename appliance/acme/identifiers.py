"""Order identifiers: DNS names (wildcards only as the leftmost label), IP addresses, and the
permanent identifiers (a device's serial number) that device-attest-01 proves."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from appliance.acme.models import Identifier
from appliance.acme.problems import AcmeError, Problem, Subproblem

MAX_IDENTIFIERS = 100
PERMANENT_IDENTIFIER = "permanent-identifier"
MAX_PERMANENT_IDENTIFIER = 128
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _dns_error(name: str) -> str | None:
    base = name[2:] if name.startswith("*.") else name
    labels = base.split(".")
    if len(base) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"'{name[:80]}' is not a valid DNS name"
    if labels[-1].isdigit():
        return f"'{name[:80]}' is not a valid DNS name (numeric top-level label)"
    return None


def _one(raw: Any) -> tuple[Identifier | None, Subproblem | None]:
    if not isinstance(raw, dict) or not isinstance(raw.get("value"), str):
        raise AcmeError(Problem.MALFORMED, "each identifier must be an object with a type and a string value")
    kind, value = raw.get("type"), raw["value"]
    if kind == "ip":
        try:
            return Identifier("ip", str(ipaddress.ip_address(value))), None
        except ValueError:
            return None, Subproblem(Problem.MALFORMED, f"'{value[:80]}' is not an IP address", {"type": "ip", "value": value})
    if kind == "dns":
        name = value.lower().rstrip(".")
        error = _dns_error(name)
        if error:
            return None, Subproblem(Problem.REJECTED_IDENTIFIER, error, {"type": "dns", "value": value})
        return Identifier("dns", name), None
    if kind == PERMANENT_IDENTIFIER:
        if not value or len(value) > MAX_PERMANENT_IDENTIFIER or not value.isprintable():
            return None, Subproblem(Problem.MALFORMED, f"'{value[:80]}' is not a permanent identifier (1 to "
                                    f"{MAX_PERMANENT_IDENTIFIER} printable characters)", {"type": kind, "value": value[:80]})
        return Identifier(kind, value), None
    return None, Subproblem(Problem.UNSUPPORTED_IDENTIFIER, f"identifier type '{str(kind)[:20]}' is not supported",
                            {"type": str(kind)[:20], "value": value})


def parse_identifiers(raw: Any) -> tuple[Identifier, ...]:
    """Normalised, de-duplicated identifiers; ``rejectedIdentifier`` (or the single
    subproblem's type) with one subproblem per bad identifier."""
    if not isinstance(raw, list) or not raw:
        raise AcmeError(Problem.MALFORMED, "identifiers must be a non-empty list")
    if len(raw) > MAX_IDENTIFIERS:
        raise AcmeError(Problem.REJECTED_IDENTIFIER, f"at most {MAX_IDENTIFIERS} identifiers per order")
    parsed = [_one(item) for item in raw]
    problems = tuple(p for _, p in parsed if p is not None)
    if problems:
        raise compound(problems)
    return tuple(dict.fromkeys(i for i, _ in parsed if i is not None))


def compound(problems: tuple[Subproblem, ...]) -> AcmeError:
    """One subproblem's type when there is one, else rejectedIdentifier with all of them."""
    top = problems[0].problem if len(problems) == 1 else Problem.REJECTED_IDENTIFIER
    return AcmeError(top, "; ".join(p.detail for p in problems), subproblems=problems)
