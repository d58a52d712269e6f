"""Configuration: step-ca's ca.json and defaults.json, loaded into objects."""

from __future__ import annotations

from appliance.config.load import (
    ConfigError,
    config_to_dict,
    load_config,
    load_defaults,
    parse_config,
    report_notices,
    write_config,
    write_defaults,
    write_json,
)
from appliance.config.model import (AuthorityConfig, CaConfig, CrlConfig, DefaultsConfig, KmsConfig, LintConfig, OcspConfig,
                                    address_host)

__all__ = [
    "AuthorityConfig",
    "CaConfig",
    "ConfigError",
    "CrlConfig",
    "LintConfig",
    "OcspConfig",
    "DefaultsConfig",
    "KmsConfig",
    "address_host",
    "config_to_dict",
    "load_config",
    "load_defaults",
    "parse_config",
    "report_notices",
    "write_config",
    "write_defaults",
    "write_json",
]
