"""ca.json's ``audit`` section: defaults, every field acting, and a clear error naming a bad one."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from appliance.config.audit import AuditConfig, parse_audit
from appliance.config.errors import ConfigError


def test_defaults_record_without_checkpoints() -> None:
    assert parse_audit({}) == AuditConfig(enabled=True, checkpoint_key="", checkpoint_every=1000,
                                          checkpoint_interval=datetime.timedelta(hours=1))


def test_every_field_is_read() -> None:
    parsed = parse_audit({"enabled": True, "checkpointKey": "pkcs11:token=ca;object=audit", "checkpointEvery": 10,
                          "checkpointInterval": "5m"})
    assert parsed == AuditConfig(True, "pkcs11:token=ca;object=audit", 10, datetime.timedelta(minutes=5))


@pytest.mark.parametrize(("section", "message"), [
    ({"enabled": "yes"}, "'audit.enabled' must be true or false"),
    ({"checkpointKey": "/keys/audit.key"}, "'audit.checkpointKey' must be a KMS key URI"),
    ({"checkpointKey": "softkms:path=/k", "checkpointEvery": 0}, "'audit.checkpointEvery' must be a positive"),
    ({"checkpointKey": "softkms:path=/k", "checkpointInterval": "soon"}, "'audit.checkpointInterval'"),
    ({"checkpointEvery": 5}, "need 'audit.checkpointKey'"),
    ({"enabled": False, "checkpointKey": "softkms:path=/k"}, "'audit.enabled' is false"),
    ({"madeUp": 1}, "'audit.madeUp' is not a setting"),
])
def test_bad_values_are_refused_naming_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_audit(section)
