"""The SCEP transactions table, created by migration step 9, ``state`` and ``csr`` added by
step 17 (``appliance.scep.store`` uses it)."""

from __future__ import annotations

import datetime

from sqlalchemy import Column, Connection, String, Table, Text, delete

from appliance.db.schema import NAME, SERIAL, metadata
from appliance.db.types import UTCDateTime

#: One row a (provisioner, transactionID, renewed serial): the request it was opened with
#: (SHA-256 of the CSR) and, once issued, the certificate, so a replay gets the same one.
#: ``renews`` is the serial of the certificate that signed a RenewalReq ('' for a PKCSReq):
#: clients that derive the transactionID from the key (micromdm's) reuse it to renew.
#: ``state``: NULL while issuing or once issued, ``pending`` while a SCEPCHALLENGE webhook
#: cannot decide (``csr``: the PEM request it will decide on), ``denied`` once it refused.
scep_transactions = Table(
    "scep_transactions",
    metadata,
    Column("provisioner", NAME, primary_key=True),
    Column("transaction_id", String(256), primary_key=True),
    Column("renews", SERIAL, primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("serial", SERIAL),
    Column("certificate", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(16)),
    Column("csr", Text),
)

TABLES = (scep_transactions,)

#: How long a transaction is kept to answer replays and polls (``db.retention`` purges older
#: ones): a client retries within minutes, a deferred challenge may wait for a person for days.
TRANSACTION_LIFETIME = datetime.timedelta(days=30)


def purge_old_scep_transactions(conn: Connection, now: datetime.datetime) -> dict[str, int]:
    """Delete the transactions opened more than ``TRANSACTION_LIFETIME`` ago (their certificates stay)."""
    deleted = conn.execute(delete(scep_transactions).where(
        scep_transactions.c.created_at < now - TRANSACTION_LIFETIME)).rowcount
    return {"scep_transactions": deleted}
