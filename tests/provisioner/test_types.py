"""One table of provisioner types serves the server's collection and the client commands."""

from __future__ import annotations

import pytest

from appliance.client.provisioners import CREDENTIAL_HANDLERS
from appliance.errors import BadRequest
from appliance.provisioner.collection import IMPLEMENTATIONS
from appliance.provisioner.types import BUILT_TYPES, PROVISIONER_TYPES, TYPE_NAMES_BY_CODE, provisioner_type


def test_every_built_type_has_a_server_implementation_and_a_client_handler() -> None:
    assert set(IMPLEMENTATIONS) == set(BUILT_TYPES) == set(CREDENTIAL_HANDLERS)
    for name, implementation in IMPLEMENTATIONS.items():
        assert implementation.kind is PROVISIONER_TYPES[name]


def test_codes_are_step_cas() -> None:
    assert TYPE_NAMES_BY_CODE == {1: "JWK", 2: "OIDC", 3: "GCP", 4: "AWS", 5: "AZURE", 6: "ACME", 7: "X5C",
                                  8: "K8SSA", 9: "SSHPOP", 10: "SCEP", 11: "NEBULA",
                                  128: "EST"}  # ours


def test_names_are_case_insensitive_and_unknown_ones_refused() -> None:
    assert provisioner_type("jwk") is PROVISIONER_TYPES["JWK"]
    with pytest.raises(BadRequest, match="unknown type 'FOO'"):
        provisioner_type("FOO")

