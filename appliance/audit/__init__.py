"""The tamper-evident audit log: hash-chained records in the CA's database and
checkpoints signed by a key behind a KMS URI (``appliance.audit.store``), checked by
``appliance audit verify``."""

from __future__ import annotations

from typing import Any, Protocol

from appliance.audit.chain import AuditRecord, Checkpoint, Verification
from appliance.audit.store import AuditLog, AuditPage, CheckpointPolicy


class AuditSink(Protocol):
    """Where the authority reports what it did (``AuditLog``, or ``NO_AUDIT``)."""

    def record(self, event: str, data: dict[str, Any]) -> None: ...


class _NoAudit:
    """Records nothing: an authority built without a database audit log (``audit.enabled: false``)."""

    def record(self, event: str, data: dict[str, Any]) -> None:
        return None


NO_AUDIT: AuditSink = _NoAudit()

__all__ = ["AuditLog", "AuditPage", "AuditRecord", "AuditSink", "Checkpoint", "CheckpointPolicy", "NO_AUDIT",
           "Verification"]
