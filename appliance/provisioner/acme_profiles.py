"""ACME profiles (draft-ietf-acme-profiles) of an ACME provisioner: named certificate
kinds a client picks with new-order's ``profile``, as Let's Encrypt serves them.

Our addition to step-ca's ACME provisioner, in ca.json::

    "profiles": {
        "shortlived": {"description": "6-day server certificates", "validity": "144h",
                       "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]},
        "custom": {"description": "...", "options": {"x509": {"templateFile": "custom.tpl"}}}
    }

Each profile is the provisioner with these laid over it: ``validity`` becomes the
default and maximum TLS duration (the claims), ``keyUsage``/``extKeyUsage`` the
usages of step-ca's default leaf template, or ``options`` a template of its own
(not both). Orders without a profile get the provisioner's own settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from appliance.errors import BadRequest
from appliance.provisioner.checks import config_strings

_FIELDS = frozenset({"description", "validity", "keyUsage", "extKeyUsage", "options"})

_USAGE_TEMPLATE = """{{
	"subject": {{{{ toJson .Subject }}}},
	"sans": {{{{ toJson .SANs }}}},
	"keyUsage": {key_usage},
	"extKeyUsage": {ext_key_usage}
}}"""


@dataclass(frozen=True)
class ProfileConfig:
    """One profile: its description for the directory and the provisioner config it issues with."""

    name: str
    description: str
    config: dict[str, Any]


def parse_profiles(config: dict[str, Any], where: str) -> dict[str, ProfileConfig]:
    """The ``profiles`` of an ACME provisioner's ``config``, each as the config of the
    provisioner it issues with (the provisioner's own, with the profile laid over it)."""
    value = config.get("profiles")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: 'profiles' must map profile names to objects")
    base = {k: v for k, v in config.items() if k != "profiles"}
    return {name: _profile(base, str(name), body, f"{where}: profile '{name}'") for name, body in value.items()}


def _profile(base: dict[str, Any], name: str, body: Any, where: str) -> ProfileConfig:
    if not name or not isinstance(body, dict):
        raise BadRequest(f"{where}: a profile needs a name and an object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadRequest(f"{where}: unsupported fields {', '.join(unknown)}")
    description = body.get("description") or name
    if not isinstance(description, str):
        raise BadRequest(f"{where}: 'description' must be a string")
    config = dict(base)
    validity = body.get("validity")
    if validity is not None:
        if not isinstance(validity, str) or not validity:
            raise BadRequest(f"{where}: 'validity' must be a duration such as \"144h\"")
        config["claims"] = {**(base.get("claims") or {}),
                            "defaultTLSCertDuration": validity, "maxTLSCertDuration": validity}
    key_usage = config_strings(body, "keyUsage", where)
    ext_key_usage = config_strings(body, "extKeyUsage", where)
    if key_usage or ext_key_usage:
        if "options" in body:
            raise BadRequest(f"{where}: give either keyUsage/extKeyUsage or options, not both")
        template = _USAGE_TEMPLATE.format(key_usage=json.dumps(list(key_usage)),
                                          ext_key_usage=json.dumps(list(ext_key_usage)))
        config["options"] = {"x509": {"template": template}}
    elif "options" in body:
        config["options"] = body["options"]
    return ProfileConfig(name, description, config)
