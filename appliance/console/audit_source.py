"""The console's view of the hash-chained audit log (``appliance.audit``): pages of
records newest first, and the chain's verification with its last checkpoint."""

from __future__ import annotations

import datetime
import json
from typing import Any, Sequence

from appliance.audit.chain import AuditRecord as ChainRecord
from appliance.audit.store import AuditLog as ChainLog
from appliance.console.audit import AuditRecord, ChainStatus


def _shown(record: ChainRecord) -> AuditRecord:
    data: dict[str, Any] = json.loads(record.data)
    event = record.event
    subject = data.get("subject") or data.get("serial") or data.get("path") or ""
    outcome = event.rsplit(".", 1)[-1] if "." in event else ""
    return AuditRecord(sequence=record.seq, time=datetime.datetime.fromisoformat(record.at.replace("Z", "+00:00")),
                       event=event, actor=str(data.get("provisioner") or data.get("actor") or ""),
                       subject=str(subject), outcome=outcome, record_hash=record.hash)


class ChainAuditSource:
    """Implements the console's ``AuditLog`` over the database's audit chain."""

    def __init__(self, log: ChainLog) -> None:
        self._log = log

    def records(self, page: int, size: int) -> Sequence[AuditRecord]:
        newest, _ = self._log.head()
        last = newest - page * size
        first = max(1, last - size + 1)
        if last < 1:
            return []
        found = self._log.page(after=first - 1, limit=last - first + 1).records
        return [_shown(record) for record in reversed(found)]

    def chain_status(self) -> ChainStatus:
        verification = self._log.verify()
        checkpoint = self._log.last_checkpoint()
        at = None if checkpoint is None else datetime.datetime.fromisoformat(checkpoint.at.replace("Z", "+00:00"))
        return ChainStatus(intact=verification.ok, records=verification.records,
                           detail="; ".join(verification.problems[:3]), last_checkpoint=at)
