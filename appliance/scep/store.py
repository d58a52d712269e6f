"""SCEP transactions in the CA's database (``appliance.db.scep_schema``): a transaction is
claimed before its certificate is issued, so that a replay, even a concurrent one, never
issues a second certificate."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import ColumnElement, delete, exc, insert, select, update

from appliance.db.scep_schema import scep_transactions
from appliance.db.interfaces import Database


@dataclass(frozen=True)
class ScepTransaction:
    """A claimed transaction; ``certificate`` is None while its issuance is under way."""

    request_sha256: str
    certificate: x509.Certificate | None


class SQLScepStore:
    """The ``scep_transactions`` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim(self, provisioner: str, transaction_id: str, request_sha256: str,
              now: datetime.datetime) -> ScepTransaction | None:
        """Open the transaction for this request: None if it is now ours to issue, else
        the transaction as an earlier request opened it."""
        try:
            with self._db.transaction(immediate=True) as conn:
                conn.execute(insert(scep_transactions), {
                    "provisioner": provisioner, "transaction_id": transaction_id,
                    "request_sha256": request_sha256, "created_at": now})
            return None
        except exc.IntegrityError:
            known = self.get(provisioner, transaction_id)
            return known if known is not None else ScepTransaction(request_sha256, None)

    def complete(self, provisioner: str, transaction_id: str, certificate: x509.Certificate) -> None:
        """Record the certificate the claimed transaction issued."""
        with self._db.transaction(immediate=True) as conn:
            conn.execute(update(scep_transactions).where(*self._key(provisioner, transaction_id)).values(
                serial=str(certificate.serial_number),
                certificate=certificate.public_bytes(serialization.Encoding.PEM).decode()))

    def release(self, provisioner: str, transaction_id: str) -> None:
        """Forget a claimed transaction that issued nothing (refused, or the KMS was down)."""
        with self._db.transaction(immediate=True) as conn:
            conn.execute(delete(scep_transactions).where(*self._key(provisioner, transaction_id),
                                                         scep_transactions.c.certificate.is_(None)))

    def get(self, provisioner: str, transaction_id: str) -> ScepTransaction | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(scep_transactions.c.request_sha256, scep_transactions.c.certificate)
                               .where(*self._key(provisioner, transaction_id))).first()
        if row is None:
            return None
        certificate = None if row.certificate is None else x509.load_pem_x509_certificate(row.certificate.encode())
        return ScepTransaction(row.request_sha256, certificate)

    @staticmethod
    def _key(provisioner: str, transaction_id: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return (scep_transactions.c.provisioner == provisioner, scep_transactions.c.transaction_id == transaction_id)
