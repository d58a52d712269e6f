"""SCEP transactions in the CA's database (``appliance.db.scep_schema``): a transaction is
claimed before its certificate is issued, so that a replay, even a concurrent one, never
issues a second certificate. A transaction whose challenge a webhook deferred is ``pending``
(with its CSR) until a poll, having taken it (``take_pending``), issues or denies it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import ColumnElement, Row, delete, exc, insert, select, update

from appliance.db.scep_schema import scep_transactions
from appliance.db.interfaces import Database


@dataclass(frozen=True)
class TransactionKey:
    """A transaction: ``renews`` is the serial of the certificate that signed a RenewalReq,
    '' for a PKCSReq."""

    provisioner: str
    transaction_id: str
    renews: str = ""


PENDING = "pending"
DENIED = "denied"


@dataclass(frozen=True)
class ScepTransaction:
    """A claimed transaction; ``certificate`` is None while its issuance is under way, while it
    is ``pending`` (``csr``: what it will issue for) or once ``denied``."""

    request_sha256: str
    certificate: x509.Certificate | None
    state: str | None = None
    csr: x509.CertificateSigningRequest | None = None
    renews: str = ""


class SQLScepStore:
    """The ``scep_transactions`` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim(self, key: TransactionKey, request_sha256: str, now: datetime.datetime) -> ScepTransaction | None:
        """Open the transaction for this request: None if it is now ours to issue, else
        the transaction as an earlier request opened it."""
        try:
            with self._db.transaction(immediate=True) as conn:
                conn.execute(insert(scep_transactions), {
                    "provisioner": key.provisioner, "transaction_id": key.transaction_id, "renews": key.renews,
                    "request_sha256": request_sha256, "created_at": now})
            return None
        except exc.IntegrityError:
            with self._db.transaction() as conn:
                row = conn.execute(select(scep_transactions).where(*_where(key))).first()
            return ScepTransaction(request_sha256, None) if row is None else _transaction(row)

    def defer(self, key: TransactionKey, csr: x509.CertificateSigningRequest) -> None:
        """The claimed (or taken) transaction waits for its challenge's verdict, on ``csr``."""
        with self._db.transaction(immediate=True) as conn:
            conn.execute(update(scep_transactions).where(*_where(key)).values(
                state=PENDING, csr=csr.public_bytes(serialization.Encoding.PEM).decode()))

    def take_pending(self, key: TransactionKey) -> bool:
        """Take a pending transaction to decide it: True for exactly one of concurrent pollers."""
        with self._db.transaction(immediate=True) as conn:
            taken = conn.execute(update(scep_transactions).where(*_where(key), scep_transactions.c.state == PENDING)
                                 .values(state=None)).rowcount
        return taken == 1

    def deny(self, key: TransactionKey) -> None:
        """A pending transaction refused: it stays, so that every later poll is answered FAILURE."""
        with self._db.transaction(immediate=True) as conn:
            conn.execute(update(scep_transactions).where(*_where(key)).values(state=DENIED))

    def complete(self, key: TransactionKey, certificate: x509.Certificate) -> None:
        """Record the certificate the claimed transaction issued."""
        with self._db.transaction(immediate=True) as conn:
            conn.execute(update(scep_transactions).where(*_where(key)).values(
                serial=str(certificate.serial_number),
                certificate=certificate.public_bytes(serialization.Encoding.PEM).decode()))

    def release(self, key: TransactionKey) -> None:
        """Forget a claimed transaction that issued nothing (refused, or the KMS was down); a
        pending or denied one stays."""
        with self._db.transaction(immediate=True) as conn:
            conn.execute(delete(scep_transactions).where(*_where(key), scep_transactions.c.certificate.is_(None),
                                                         scep_transactions.c.state.is_(None)))

    def latest(self, provisioner: str, transaction_id: str) -> ScepTransaction | None:
        """The newest transaction of that id (GetCertInitial names no renewed certificate)."""
        with self._db.transaction() as conn:
            row = conn.execute(select(scep_transactions).where(
                scep_transactions.c.provisioner == provisioner, scep_transactions.c.transaction_id == transaction_id)
                .order_by(scep_transactions.c.created_at.desc()).limit(1)).first()
        return None if row is None else _transaction(row)


def _where(key: TransactionKey) -> tuple[ColumnElement[bool], ...]:
    return (scep_transactions.c.provisioner == key.provisioner, scep_transactions.c.transaction_id == key.transaction_id,
            scep_transactions.c.renews == key.renews)


def _transaction(row: Row[Any]) -> ScepTransaction:
    certificate = None if row.certificate is None else x509.load_pem_x509_certificate(row.certificate.encode())
    csr = None if row.csr is None else x509.load_pem_x509_csr(row.csr.encode())
    return ScepTransaction(row.request_sha256, certificate, row.state, csr, row.renews)
