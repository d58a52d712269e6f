"""The name policy engine: step-ca's allow/deny semantics, case by case."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from appliance.errors import BadRequest
from appliance.policy import NamePolicy, name_kind


def policy(allow: dict[str, Any] | None = None, deny: dict[str, Any] | None = None,
           wildcards: bool = False) -> NamePolicy:
    x509: dict[str, Any] = {"allowWildcardNames": wildcards}
    if allow is not None:
        x509["allow"] = allow
    if deny is not None:
        x509["deny"] = deny
    return NamePolicy.from_config({"x509": x509}, "test policy")


def refusal(p: NamePolicy, name: str) -> str | None:
    kind = name_kind(name)
    if kind == "ip":
        address = ipaddress.ip_address(name)
        return p.refusals(ips=[address]).get(str(address))
    return p.refusals(**{{"dns": "dns", "email": "emails", "uri": "uris"}[kind]: [name]}).get(name)


ALLOW_EXAMPLE = {"dns": ["example.com", "*.example.com"]}

CASES = [
    # (allow, deny, allowWildcardNames, name, allowed)
    (None, None, False, "anything.test", True),
    (None, None, False, "*.anything.test", True),  # no rules: nothing is checked
    (ALLOW_EXAMPLE, None, False, "example.com", True),
    (ALLOW_EXAMPLE, None, False, "www.example.com", True),
    (ALLOW_EXAMPLE, None, False, "WWW.Example.COM", True),
    (ALLOW_EXAMPLE, None, False, "a.b.example.com", False),  # '*.' is exactly one label, as in step-ca
    (ALLOW_EXAMPLE, None, False, "example.org", False),
    (ALLOW_EXAMPLE, None, False, "badexample.com", False),
    (ALLOW_EXAMPLE, None, False, "*.example.com", False),  # allowWildcardNames defaults to false
    (ALLOW_EXAMPLE, None, True, "*.example.com", True),
    (ALLOW_EXAMPLE, None, True, "*.www.example.com", False),
    ({"dns": ["example.com"]}, None, True, "*.example.com", False),
    ({"dns": [".example.com"]}, None, False, "www.example.com", True),  # X.509's form of '*.'
    (ALLOW_EXAMPLE, None, True, "a*.example.com", False),
    (ALLOW_EXAMPLE, {"dns": ["bad.example.com"]}, False, "bad.example.com", False),  # deny wins
    (ALLOW_EXAMPLE, {"dns": ["*.example.com"]}, False, "www.example.com", False),
    (None, {"dns": ["*.denied.test"]}, False, "ok.test", True),  # deny only: the rest is allowed
    (None, {"dns": ["*.denied.test"]}, False, "www.denied.test", False),
    (None, {"dns": ["*.denied.test"]}, False, "*.ok.test", False),  # wildcards need allowWildcardNames
    (None, {"dns": ["*.denied.test"]}, True, "*.denied.test", False),
    (ALLOW_EXAMPLE, None, False, "10.0.0.1", False),  # an allow list without ip rules allows no IP
    ({"ip": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}, None, False, "10.20.30.40", True),
    ({"ip": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}, None, False, "192.168.1.7", True),
    ({"ip": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}, None, False, "192.168.1.8", False),
    ({"ip": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}, None, False, "2001:db8::1", True),
    ({"ip": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}, None, False, "::ffff:10.0.0.1", True),  # IPv4-mapped, as Go
    ({"ip": ["10.0.0.0/8"]}, {"ip": ["10.0.0.1"]}, False, "10.0.0.1", False),
    ({"ip": ["10.0.0.0/8"]}, None, False, "host.test", False),
    ({"email": ["@example.com", "root@example.org"]}, None, False, "ops@example.com", True),
    ({"email": ["@example.com", "root@example.org"]}, None, False, "ops@sub.example.com", False),
    ({"email": ["@example.com", "root@example.org"]}, None, False, "root@example.org", True),
    ({"email": ["@example.com", "root@example.org"]}, None, False, "ops@example.org", False),
    (None, {"email": ["example.com"]}, False, "ops@example.com", False),
    ({"uri": ["*.example.com"]}, None, False, "spiffe://a.example.com/workload", True),
    ({"uri": ["*.example.com"]}, None, False, "https://example.com/", False),
    ({"uri": ["*.example.com"]}, None, False, "urn:uuid:1234", False),  # no host to match
    ({"uri": ["*.example.com"]}, None, False, "https://10.0.0.1/", False),
    (None, {"uri": ["bad.test"]}, False, "urn:uuid:1234", False),
    (None, {"ip": ["10.0.0.0/8"]}, False, "urn:uuid:1234", True),  # no uri rules to match against
]


@pytest.mark.parametrize("allow,deny,wildcards,name,allowed", CASES)
def test_allow_and_deny(allow: dict[str, Any] | None, deny: dict[str, Any] | None, wildcards: bool,
                        name: str, allowed: bool) -> None:
    reason = refusal(policy(allow, deny, wildcards), name)
    assert (reason is None) is allowed, reason


def test_refusals_name_the_name_the_rule_and_the_owner() -> None:
    p = policy({"dns": ["*.example.com"]}, {"dns": ["bad.example.com"]})
    assert refusal(p, "bad.example.com") == \
        "dns name 'bad.example.com' is denied by rule 'bad.example.com' of the test policy"
    assert refusal(p, "example.org") == "dns name 'example.org' is not allowed by any rule of the test policy"
    assert refusal(p, "10.1.1.1") == "ip name '10.1.1.1' is not allowed by the test policy, which allows no ip names"
    assert "allowWildcardNames" in (refusal(p, "*.example.com") or "")


def test_common_name_by_cn_rule_or_as_its_kind() -> None:
    p = policy({"cn": ["Build Agent"], "dns": ["*.example.com"]}, {"cn": ["root"]})
    assert p.refusals(common_name="build agent") == {}
    assert p.refusals(common_name="www.example.com") == {}
    assert "denied by rule 'root'" in p.refusals(common_name="root")["root"]
    assert "not a valid DNS name" in p.refusals(common_name="some service")["some service"]
    assert p.refusals(dns=["www.example.com"], common_name="x.example.org").keys() == {"x.example.org"}


@pytest.mark.parametrize("x509,message", [
    ({"allow": {"dns": ["a.*.example.com"]}}, "not a domain"),
    ({"allow": {"dns": ["a..example.com"]}}, "not a domain"),
    ({"allow": {"ip": ["10.0.0.0/33"]}}, "neither an IP address nor a CIDR"),
    ({"deny": {"email": ["*@example.com"]}}, "neither a mailbox nor a domain"),
    ({"allow": {"ips": ["10.0.0.0/8"]}}, "unknown ips"),
    ({"allow": {"dns": "example.com"}}, "must be a list of strings"),
    ({"allowWildcardNames": "yes"}, "must be true or false"),
    ({"allow": []}, "must be an object"),
])
def test_invalid_policies_are_refused_at_load(x509: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        NamePolicy.from_config({"x509": x509}, "authority policy")


def test_ssh_policy_is_not_ours_and_no_policy_allows_everything() -> None:
    p = NamePolicy.from_config({"ssh": {"host": {"allow": {"dns": ["x"]}}}}, "p")
    assert p.refusals(dns=["*.anything"], emails=["a@b.c"]) == {}
    assert NamePolicy.from_config(None, "p").refusals(uris=["urn:x"]) == {}
