"""The SCEP transactions table, created by migration step 9 (``appliance.scep.store`` uses it)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from appliance.db.schema import NAME, SERIAL, metadata
from appliance.db.types import UTCDateTime

#: One row a (provisioner, transactionID, renewed serial): the request it was opened with
#: (SHA-256 of the CSR) and, once issued, the certificate, so a replay gets the same one.
#: ``renews`` is the serial of the certificate that signed a RenewalReq ('' for a PKCSReq):
#: clients that derive the transactionID from the key (micromdm's) reuse it to renew.
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
)

TABLES = (scep_transactions,)
