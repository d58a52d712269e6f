"""Every setting in the table of unsupported ones stops the CA at start, naming the
field; empty or default values of the same fields still load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from appliance.config import ConfigError
from appliance.config.unsupported import UNSUPPORTED, unsupported_settings
from appliance.provisioner.types import BUILT_TYPES
from appliance.server.runtime import load_runtime
from tests.ca_fixtures import PASSWORD, build_ca

#: One ca.json fragment per row of the table: (row path, what to merge, the field named in the error).
EXAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "authority.provisioners[].type": (
        {"extra_provisioner": {"type": "FOO", "name": "routers"}},
        "'authority.provisioners[1] (provisioner 'routers').type' = \"FOO\""),
    "authority.provisioners[].disableSSHCAHost": (
        {"extra_provisioner": {"type": "GCP", "name": "gce", "disableSSHCAHost": True}},
        "'authority.provisioners[1] (provisioner 'gce').disableSSHCAHost' = true"),
    "authority.type": ({"authority": {"type": "stepcas", "certificateAuthority": "https://up"}},
                       "'authority.type' = \"stepcas\""),
    "authority.certificateIssuer": ({"authority": {"certificateIssuer": {"type": "jwk", "password": "s3cr3t"}}},
                                    "'authority.certificateIssuer'"),
}


def _with(data: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for name, value in fragment.items():
        if name == "provisioner":
            data["authority"]["provisioners"][0].update(value)
        elif name == "extra_provisioner":
            data["authority"]["provisioners"].append(value)
        elif isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return data


def test_every_row_of_the_table_has_an_example() -> None:
    assert sorted(row.path for row in UNSUPPORTED) == sorted(EXAMPLES)


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_the_ca_refuses_to_start_naming_the_setting(tmp_path: Path, path: str) -> None:
    ca = build_ca(tmp_path)
    fragment, named = EXAMPLES[path]
    data = _with(json.loads(ca.config_path.read_text()), fragment)
    ca.config_path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as refused:
        load_runtime(ca.config_path, PASSWORD)
    assert named in refused.value.message
    assert "not supported yet" in refused.value.message
    assert "s3cr3t" not in refused.value.message and "c2VjcmV0" not in refused.value.message


def test_empty_and_default_values_are_not_refused(tmp_path: Path) -> None:
    ca = build_ca(tmp_path)
    data = _with(json.loads(ca.config_path.read_text()), {
        "templates": {}, "ssh": None,
        "authority": {"template": {}, "enableAdmin": False, "claims": {"disableSmallstepExtensions": False,
                                                                       "enableSSHCA": False},
                      "type": "", "policy": {"x509": {"allow": {"dns": ["*.example"]}}}},
        "crl": {"enabled": True, "generateOnRevoke": True},
        "provisioner": {"options": {}},
    })
    ca.config_path.write_text(json.dumps(data))
    assert unsupported_settings(data, frozenset(BUILT_TYPES)) == []
    load_runtime(ca.config_path, PASSWORD).close()


def test_every_refused_setting_is_named_at_once(tmp_path: Path) -> None:
    data = _with(json.loads(build_ca(tmp_path).config_path.read_text()),
                 {"authority": {"certificateIssuer": {"type": "jwk"}, "type": "stepcas"}})
    found = unsupported_settings(data, frozenset(BUILT_TYPES))
    assert [line.split("'")[1] for line in found] == ["authority.type", "authority.certificateIssuer"]
