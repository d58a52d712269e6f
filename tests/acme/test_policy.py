"""The authority's name policy applies to ACME as to /sign: new orders are refused
early, one rejectedIdentifier subproblem per name, and finalize checks again."""

from __future__ import annotations

from appliance.policy import NamePolicy
from tests.acme.conftest import AcmeEnv
from tests.acme.test_bad_requests import PREFIX, assert_problem, ready_order, unchanged
from tests.ca_fixtures import make_csr

AUTHORITY_DENY = {"x509": {"deny": {"dns": ["*.internal.test"], "ip": ["10.0.0.0/8"]}}}


def test_new_order_refused_by_the_authority_policy(env: AcmeEnv) -> None:
    env.authority.policy = NamePolicy.from_config(AUTHORITY_DENY, "authority policy")
    client = env.account()
    response = unchanged(env, lambda: client.new_order("ok.example.test", "db.internal.test", "10.1.2.3",
                                                       "www.denied.test"))
    body = assert_problem(response, "rejectedIdentifier", 403)
    details = {s["identifier"]["value"]: s["detail"] for s in body["subproblems"]}
    assert set(details) == {"db.internal.test", "10.1.2.3", "www.denied.test"}
    assert all(s["type"] == PREFIX + "rejectedIdentifier" for s in body["subproblems"])
    assert details["db.internal.test"] == \
        "dns name 'db.internal.test' is denied by rule '*.internal.test' of the authority policy"
    assert "policy of provisioner 'acme'" in details["www.denied.test"]


def test_finalize_checks_the_policy_again(env: AcmeEnv) -> None:
    client = env.account()
    order = ready_order(env, client, "late.example.test")
    env.authority.policy = NamePolicy.from_config({"x509": {"deny": {"dns": ["late.example.test"]}}},
                                                  "authority policy")
    before = env.counts()["certificates"]
    csr, _ = make_csr("late.example.test")
    body = assert_problem(client.finalize(order, csr), "rejectedIdentifier", 403)
    assert body["subproblems"][0]["identifier"] == {"type": "dns", "value": "late.example.test"}
    assert env.counts()["certificates"] == before
    assert client.post(order["finalize"].rsplit("/", 1)[0]).json()["status"] == "invalid"
