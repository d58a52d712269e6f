"""ACME metrics and audit records: an order through http-01 (real responders on
loopback) counts as created and valid, its validation by challenge type, its
certificate as an ``acme`` issuance."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.acme.conftest import AcmeEnv
from tests.acme.test_flows import issue


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_order_is_counted_from_creation_to_validity(env: AcmeEnv) -> None:
    provisioner = "acme"
    before = {
        "created": _sample("appliance_acme_orders_total", provisioner=provisioner, outcome="created"),
        "valid": _sample("appliance_acme_orders_total", provisioner=provisioner, outcome="valid"),
        "validated": _sample("appliance_acme_validations_total", challenge_type="http-01", outcome="valid"),
        "issued": _sample("appliance_issuance_total", provisioner=provisioner, type="acme", outcome="issued"),
    }
    issue(env, env.account(), ["metrics.example.test"], "http-01")
    assert _sample("appliance_acme_orders_total", provisioner=provisioner, outcome="created") == before["created"] + 1
    assert _sample("appliance_acme_orders_total", provisioner=provisioner, outcome="valid") == before["valid"] + 1
    assert _sample("appliance_acme_validations_total", challenge_type="http-01",
                   outcome="valid") == before["validated"] + 1
    assert _sample("appliance_issuance_total", provisioner=provisioner, type="acme",
                   outcome="issued") == before["issued"] + 1
