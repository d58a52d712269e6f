"""What the console asks of an audit log: one page of records, newest first, and
whether the hash chain verifies. The audit log (``appliance.audit``) implements it;
without one the console says the audit log is not configured."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class AuditRecord:
    """One record as the console shows it (nothing secret: the log never holds secrets)."""

    sequence: int
    time: datetime.datetime
    event: str
    actor: str
    subject: str
    outcome: str
    record_hash: str


@dataclass(frozen=True)
class ChainStatus:
    """The outcome of verifying the chain: ``detail`` names the first bad record if any."""

    intact: bool
    records: int
    detail: str = ""
    last_checkpoint: datetime.datetime | None = None


class AuditLog(Protocol):
    """The audit log's read side."""

    def records(self, page: int, size: int) -> Sequence[AuditRecord]:
        """Records ``page * size`` to ``page * size + size - 1``, newest first (page 0 is the newest)."""
        ...

    def chain_status(self) -> ChainStatus: ...
