"""ca.json's ``audit`` section (ours, not step-ca's): the hash-chained audit log in the
CA's database and its signed checkpoints.

``enabled`` (default true) records every security-relevant event; ``checkpointKey``
is a KMS key URI (``softkms:path=...``, ``pkcs11:...;object=audit``, ...) whose key signs
a checkpoint of the chain's head after ``checkpointEvery`` records (default 1000) or,
at the next record, once ``checkpointInterval`` (default 1h) has passed since the last
checkpoint. Without a key there are no checkpoints and the other two must be unset."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from appliance.config.errors import ConfigError
from appliance.errors import BadRequest
from appliance.pki.duration import parse_duration

FIELDS = frozenset({"enabled", "checkpointKey", "checkpointEvery", "checkpointInterval"})
DEFAULT_EVERY = 1000
DEFAULT_INTERVAL = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class AuditConfig:
    enabled: bool = True
    checkpoint_key: str = ""
    checkpoint_every: int = DEFAULT_EVERY
    checkpoint_interval: datetime.timedelta = DEFAULT_INTERVAL


def parse_audit(section: dict[str, Any]) -> AuditConfig:
    """The ``audit`` object; unknown members and bad values are errors naming the field."""
    unknown = sorted(set(section) - FIELDS)
    if unknown:
        raise ConfigError(f"ca.json: 'audit.{unknown[0]}' is not a setting of the audit log "
                          f"(known: {', '.join(sorted(FIELDS))})")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("ca.json: 'audit.enabled' must be true or false")
    key = section.get("checkpointKey", "")
    if not isinstance(key, str):
        raise ConfigError("ca.json: 'audit.checkpointKey' must be a KMS key URI")
    if key and ":" not in key:
        raise ConfigError("ca.json: 'audit.checkpointKey' must be a KMS key URI such as softkms:path=/keys/audit.key")
    every = section.get("checkpointEvery", DEFAULT_EVERY)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ConfigError("ca.json: 'audit.checkpointEvery' must be a positive integer")
    try:
        interval = parse_duration(section["checkpointInterval"]) if "checkpointInterval" in section \
            else DEFAULT_INTERVAL
    except BadRequest as exc:
        raise ConfigError(f"ca.json: 'audit.checkpointInterval': {exc.message}") from None
    if interval <= datetime.timedelta(0):
        raise ConfigError("ca.json: 'audit.checkpointInterval' must be positive")
    if not key and ({"checkpointEvery", "checkpointInterval"} & set(section)):
        raise ConfigError("ca.json: 'audit.checkpointEvery' and 'audit.checkpointInterval' need "
                          "'audit.checkpointKey' (the key that signs the checkpoints)")
    if not enabled and key:
        raise ConfigError("ca.json: 'audit.checkpointKey' is set but 'audit.enabled' is false")
    return AuditConfig(enabled, key, every, interval)
