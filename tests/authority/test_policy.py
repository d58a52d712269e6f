"""Name policy on the authority path: authority level and provisioner level (a
name must pass both), checked before the token is used; renewal is not re-checked."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from sqlalchemy import func, select

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.db.schema import certificates, used_tokens
from appliance.errors import BadRequest
from appliance.policy import NamePolicy, NamesRefused
from appliance.provisioner import Names
from tests.ca_fixtures import TestCA, make_csr

CA = tuple[Authority, TestCA]
MakeAuthority = Callable[..., CA]
ALLOW = {"x509": {"allow": {"dns": ["*.example.test"], "ip": ["10.0.0.0/8"]}}}
DENY = {"x509": {"deny": {"dns": ["*.denied.test", "db.example.test"]}}}


def sign(authority: Authority, ca: TestCA, subject: str, names: list[str] | None = None) -> Any:
    csr, _ = make_csr(subject, names)
    return authority.sign(SignRequest(csr=csr, token=ca.token(subject, sans=names)))


def rows(authority: Authority) -> tuple[int, int]:
    with authority.database.transaction() as conn:  # type: ignore[attr-defined]
        return (conn.scalar(select(func.count()).select_from(certificates)) or 0,
                conn.scalar(select(func.count()).select_from(used_tokens)) or 0)


@pytest.mark.parametrize("level", ["authority", "provisioner"])
def test_names_outside_the_allow_list_are_forbidden(make_authority: MakeAuthority, level: str) -> None:
    authority, ca = make_authority(**{level: {"policy": ALLOW}})
    assert sign(authority, ca, "www.example.test", ["www.example.test", "10.1.2.3"]).certificate
    before = rows(authority)
    with pytest.raises(NamesRefused) as refused:
        sign(authority, ca, "www.example.test", ["www.example.test", "www.other.test"])
    owner = "authority policy" if level == "authority" else f"policy of provisioner '{ca.provisioner}'"
    assert refused.value.message == f"dns name 'www.other.test' is not allowed by any rule of the {owner}"
    assert rows(authority) == before  # nothing recorded, the token not spent


def test_a_name_must_pass_both_levels(make_authority: MakeAuthority) -> None:
    authority, ca = make_authority(authority={"policy": ALLOW}, provisioner={"policy": DENY})
    assert sign(authority, ca, "api.example.test").certificate
    with pytest.raises(NamesRefused, match="denied by rule 'db.example.test' of the policy of provisioner"):
        sign(authority, ca, "db.example.test")
    with pytest.raises(NamesRefused, match="not allowed by any rule of the authority policy"):
        sign(authority, ca, "www.denied.test")


def test_the_common_name_is_checked_too(make_authority: MakeAuthority) -> None:
    authority, ca = make_authority(authority={"policy": ALLOW})
    with pytest.raises(NamesRefused, match="dns name 'bad.test'"):
        sign(authority, ca, "bad.test", ["www.example.test"])


def test_refused_names_reports_every_name_with_its_first_reason(make_authority: MakeAuthority) -> None:
    authority, ca = make_authority(authority={"policy": ALLOW}, provisioner={"policy": DENY})
    provisioner = authority.provisioner(ca.provisioner)
    refused = authority.refused_names(provisioner, Names.parse(["a.example.test", "db.example.test", "x.test"]))
    assert set(refused) == {"db.example.test", "x.test"}
    assert "authority policy" in refused["x.test"] and "provisioner" in refused["db.example.test"]


def test_renewal_is_not_checked_again(make_authority: MakeAuthority) -> None:
    """step-ca's renewContext checks the intermediate's name constraints, not policies."""
    authority, ca = make_authority()
    issued = sign(authority, ca, "old.test")
    authority.policy = NamePolicy.from_config(ALLOW, "authority policy")
    assert authority.renew(issued.certificate).certificate.subject == issued.certificate.subject


@pytest.mark.parametrize("level", ["authority", "provisioner"])
def test_an_invalid_policy_stops_the_authority(make_authority: MakeAuthority, level: str) -> None:
    with pytest.raises(BadRequest, match="ip rule 'ten' is neither"):
        make_authority(**{level: {"policy": {"x509": {"allow": {"ip": ["ten"]}}}}})
