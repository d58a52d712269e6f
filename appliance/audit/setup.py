"""The audit log that ca.json's ``audit`` section asks for, with its checkpoint key opened through the KMS."""

from __future__ import annotations

from appliance.audit.store import AuditLog, CheckpointPolicy, Transaction
from appliance.config.audit import AuditConfig
from appliance.kms import KeyManager, open_key_manager


class OpenedAuditLog(AuditLog):
    """An ``AuditLog`` that owns the KMS session of its checkpoint key (``close`` ends it)."""

    def __init__(self, transaction: Transaction, key_manager: KeyManager | None,
                 checkpoints: CheckpointPolicy | None) -> None:
        super().__init__(transaction, checkpoints=checkpoints)
        self._key_manager = key_manager

    def close(self) -> None:
        if self._key_manager is not None:
            self._key_manager.close()


def open_audit_log(config: AuditConfig, transaction: Transaction, *,
                   password: bytes | None = None) -> OpenedAuditLog | None:
    """None when ``audit.enabled`` is false; else the log, signing checkpoints with
    ``audit.checkpointKey`` when set (``password``: the CA's, for a softkms key)."""
    if not config.enabled:
        return None
    if not config.checkpoint_key:
        return OpenedAuditLog(transaction, None, None)
    key_manager = open_key_manager(config.checkpoint_key, password=password)
    try:
        signer = key_manager.create_signer(config.checkpoint_key)
    except BaseException:
        key_manager.close()
        raise
    return OpenedAuditLog(transaction, key_manager,
                          CheckpointPolicy(signer, config.checkpoint_every, config.checkpoint_interval))
