"""``appliance.acme.store.AcmeStore`` on SQLAlchemy Core, sharing the CA's database."""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, exc, insert, or_, select, update

from appliance.acme.models import (Account, Authorization, Challenge, ChallengeType, EabKey, Identifier,
                                   IssuedCertificate, Order, Status)
from appliance.db.acme_schema import (acme_accounts, acme_authorizations, acme_certificates, acme_challenges,
                                      acme_eab_keys, acme_nonces, acme_order_authorizations, acme_orders)
from appliance.db.acme_retention import purge_expired_acme
from appliance.db.sql import SQLDatabase
from appliance.errors import Conflict, NotFound


def _values(statuses: frozenset[Status]) -> list[str]:
    return [s.value for s in statuses]


class SQLAcmeStore:
    """The ACME state in the tables of ``appliance.db.acme_schema``."""

    def __init__(self, database: SQLDatabase) -> None:
        self._db = database

    def close(self) -> None:
        """Close the database this store shares."""
        self._db.close()

    def _write(self) -> contextlib.AbstractContextManager[Connection]:
        """A transaction that writes: immediate, so that on SQLite it takes the write lock
        at BEGIN (waiting its turn) and one that reads first cannot fail "database is
        locked" when another writer moved past its snapshot (see ``SQLDatabase._begin``)."""
        return self._db.transaction(immediate=True)

    # -- nonces ----------------------------------------------------------------------

    def add_nonce(self, nonce: str, expires_at: datetime.datetime) -> None:
        with self._write() as conn:
            conn.execute(insert(acme_nonces), {"nonce": nonce, "expires_at": expires_at})

    def use_nonce(self, nonce: str, now: datetime.datetime) -> bool:
        with self._write() as conn:
            deleted = conn.execute(delete(acme_nonces).where(
                acme_nonces.c.nonce == nonce, acme_nonces.c.expires_at > now))
        return deleted.rowcount == 1

    # -- accounts --------------------------------------------------------------------

    def create_account(self, account: Account) -> Account:
        try:
            with self._write() as conn:
                conn.execute(insert(acme_accounts), {
                    "id": account.id, "provisioner": account.provisioner, "thumbprint": account.thumbprint,
                    "jwk": account.jwk, "contact": list(account.contact), "status": account.status.value,
                    "eab_key_id": account.eab_key_id, "created_at": account.created_at,
                })
                if account.eab_key_id is not None:
                    bound = conn.execute(update(acme_eab_keys).where(
                        acme_eab_keys.c.provisioner == account.provisioner,
                        acme_eab_keys.c.key_id == account.eab_key_id,
                        acme_eab_keys.c.account_id.is_(None),
                    ).values(account_id=account.id, bound_at=account.created_at))
                    if bound.rowcount != 1:
                        raise Conflict(f"external account key '{account.eab_key_id}' is unknown or already used")
        except exc.IntegrityError:
            existing = self.account_by_thumbprint(account.provisioner, account.thumbprint)
            if existing is None:
                raise
            return existing
        return account

    def get_account(self, account_id: str) -> Account | None:
        return self._account(acme_accounts.c.id == account_id)

    def account_by_thumbprint(self, provisioner: str, thumbprint: str) -> Account | None:
        return self._account((acme_accounts.c.provisioner == provisioner) & (acme_accounts.c.thumbprint == thumbprint))

    def _account(self, where: Any) -> Account | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_accounts).where(where)).first()
        return None if row is None else _account(row)

    def update_account(self, account_id: str, *, contact: tuple[str, ...] | None = None,
                       status: Status | None = None) -> Account:
        values: dict[str, Any] = {}
        if contact is not None:
            values["contact"] = list(contact)
        if status is not None:
            values["status"] = status.value
        if values:
            with self._write() as conn:
                conn.execute(update(acme_accounts).where(acme_accounts.c.id == account_id).values(**values))
        account = self.get_account(account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        return account

    def change_account_key(self, account_id: str, old_thumbprint: str, jwk: dict[str, Any],
                           thumbprint: str) -> bool:
        try:
            with self._write() as conn:
                changed = conn.execute(update(acme_accounts).where(
                    acme_accounts.c.id == account_id, acme_accounts.c.thumbprint == old_thumbprint,
                ).values(jwk=jwk, thumbprint=thumbprint))
        except exc.IntegrityError:
            raise Conflict("another account already uses the new key") from None
        return changed.rowcount == 1

    # -- external account binding ----------------------------------------------------

    def add_eab_key(self, key: EabKey) -> None:
        try:
            with self._write() as conn:
                conn.execute(insert(acme_eab_keys), {
                    "provisioner": key.provisioner, "key_id": key.key_id, "hmac_key": key.hmac_key,
                    "account_id": key.account_id, "created_at": key.created_at, "bound_at": key.bound_at,
                    "reference": key.reference or None, "policy": key.policy,
                })
        except exc.IntegrityError:
            raise Conflict(f"provisioner '{key.provisioner}' already has an EAB key '{key.key_id}'") from None

    def get_eab_key(self, provisioner: str, key_id: str) -> EabKey | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_eab_keys).where(
                acme_eab_keys.c.provisioner == provisioner, acme_eab_keys.c.key_id == key_id)).first()
        return None if row is None else _eab_key(row)

    def list_eab_keys(self, provisioner: str) -> list[EabKey]:
        with self._db.transaction() as conn:
            rows = conn.execute(select(acme_eab_keys).where(acme_eab_keys.c.provisioner == provisioner)
                                .order_by(acme_eab_keys.c.created_at, acme_eab_keys.c.key_id))
            return [_eab_key(row) for row in rows]

    def remove_eab_key(self, provisioner: str, key_id: str) -> bool:
        with self._write() as conn:
            return conn.execute(delete(acme_eab_keys).where(
                acme_eab_keys.c.provisioner == provisioner, acme_eab_keys.c.key_id == key_id)).rowcount == 1

    def set_eab_policy(self, provisioner: str, key_id: str, policy: dict[str, Any] | None) -> bool:
        with self._write() as conn:
            return conn.execute(update(acme_eab_keys).where(
                acme_eab_keys.c.provisioner == provisioner, acme_eab_keys.c.key_id == key_id)
                .values(policy=policy)).rowcount == 1

    # -- orders, authorizations, challenges --------------------------------------------

    def create_order(self, order: Order, authorizations: list[Authorization]) -> None:
        with self._write() as conn:
            existing = set(conn.scalars(select(acme_authorizations.c.id).where(
                acme_authorizations.c.id.in_([a.id for a in authorizations]))))
            for authz in authorizations:
                if authz.id not in existing:
                    _insert_authorization(conn, authz)
            conn.execute(insert(acme_orders), {
                "id": order.id, "account_id": order.account_id, "provisioner": order.provisioner,
                "status": order.status.value, "expires": order.expires,
                "identifiers": [i.to_json() for i in order.identifiers], "not_before": order.not_before,
                "not_after": order.not_after, "error": order.error, "certificate_id": order.certificate_id,
                "replaces": order.replaces, "profile": order.profile, "created_at": order.created_at,
            })
            conn.execute(insert(acme_order_authorizations), [
                {"order_id": order.id, "authorization_id": a.id, "position": i} for i, a in enumerate(authorizations)])

    def get_order(self, order_id: str) -> Order | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_orders).where(acme_orders.c.id == order_id)).first()
            if row is None:
                return None
            authz_ids = tuple(conn.scalars(select(acme_order_authorizations.c.authorization_id).where(
                acme_order_authorizations.c.order_id == order_id).order_by(acme_order_authorizations.c.position)))
        return _order(row, authz_ids)

    def account_orders(self, account_id: str) -> list[str]:
        with self._db.transaction() as conn:
            return list(conn.scalars(select(acme_orders.c.id).where(acme_orders.c.account_id == account_id)
                                     .order_by(acme_orders.c.created_at, acme_orders.c.id)))

    def set_order_status(self, order_id: str, status: Status, expected: frozenset[Status], *,
                         error: dict[str, Any] | None = None, certificate_id: str | None = None) -> bool:
        values: dict[str, Any] = {"status": status.value}
        if error is not None:
            values["error"] = error
        if certificate_id is not None:
            values["certificate_id"] = certificate_id
        with self._write() as conn:
            return conn.execute(update(acme_orders).where(
                acme_orders.c.id == order_id, acme_orders.c.status.in_(_values(expected))).values(**values)
            ).rowcount == 1

    def get_authorization(self, authorization_id: str) -> Authorization | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_authorizations).where(acme_authorizations.c.id == authorization_id)).first()
            return None if row is None else _authorization(conn, row)

    def reusable_authorization(self, account_id: str, identifier_type: str, value: str, wildcard: bool,
                               valid_after: datetime.datetime) -> Authorization | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_authorizations).where(
                acme_authorizations.c.account_id == account_id,
                acme_authorizations.c.identifier_type == identifier_type,
                acme_authorizations.c.identifier_value == value,
                acme_authorizations.c.wildcard == wildcard,
                acme_authorizations.c.status == Status.VALID.value,
                acme_authorizations.c.expires > valid_after,
            ).order_by(acme_authorizations.c.expires.desc())).first()
            return None if row is None else _authorization(conn, row)

    def set_authorization_status(self, authorization_id: str, status: Status,
                                 expected: frozenset[Status]) -> bool:
        with self._write() as conn:
            return conn.execute(update(acme_authorizations).where(
                acme_authorizations.c.id == authorization_id,
                acme_authorizations.c.status.in_(_values(expected))).values(status=status.value)).rowcount == 1

    def record_attestation(self, authorization_id: str, challenge_id: str, attestation: dict[str, Any],
                           validated_at: datetime.datetime) -> bool:
        pending = [Status.PENDING.value]
        with self._write() as conn:
            if conn.execute(update(acme_challenges).where(
                    acme_challenges.c.id == challenge_id, acme_challenges.c.status.in_(pending),
            ).values(status=Status.VALID.value, validated_at=validated_at)).rowcount != 1:
                return False
            conn.execute(update(acme_authorizations).where(
                acme_authorizations.c.id == authorization_id, acme_authorizations.c.status.in_(pending),
            ).values(status=Status.VALID.value, attestation=attestation))
        return True

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_challenges).where(acme_challenges.c.id == challenge_id)).first()
        return None if row is None else _challenge(row)

    def set_challenge_status(self, challenge_id: str, status: Status, expected: frozenset[Status], *,
                             error: dict[str, Any] | None = None,
                             validated_at: datetime.datetime | None = None) -> bool:
        values: dict[str, Any] = {"status": status.value}
        if error is not None:
            values["error"] = error
        if validated_at is not None:
            values["validated_at"] = validated_at
        with self._write() as conn:
            return conn.execute(update(acme_challenges).where(
                acme_challenges.c.id == challenge_id,
                acme_challenges.c.status.in_(_values(expected))).values(**values)).rowcount == 1

    def start_challenge(self, challenge_id: str, now: datetime.datetime, stale_before: datetime.datetime) -> bool:
        pending = acme_challenges.c.status == Status.PENDING.value
        with self._write() as conn:
            return conn.execute(update(acme_challenges).where(
                acme_challenges.c.id == challenge_id, pending | _stale(stale_before),
            ).values(status=Status.PROCESSING.value, processing_since=now)).rowcount == 1

    def stale_challenges(self, stale_before: datetime.datetime, now: datetime.datetime) -> list[str]:
        with self._db.transaction() as conn:
            return list(conn.scalars(select(acme_challenges.c.id).join(
                acme_authorizations, acme_authorizations.c.id == acme_challenges.c.authorization_id,
            ).where(
                _stale(stale_before), acme_authorizations.c.status == Status.PENDING.value, acme_authorizations.c.expires > now,
            )))

    # -- certificates ----------------------------------------------------------------

    def record_certificate(self, certificate: IssuedCertificate) -> None:
        with self._write() as conn:
            conn.execute(insert(acme_certificates), {
                "id": certificate.id, "account_id": certificate.account_id, "order_id": certificate.order_id,
                "serial": certificate.serial, "cert_id": certificate.cert_id, "chain_pem": certificate.chain_pem,
                "not_before": certificate.not_before, "not_after": certificate.not_after,
                "replaced_by": certificate.replaced_by,
            })

    def get_certificate(self, certificate_id: str) -> IssuedCertificate | None:
        return self._certificate(acme_certificates.c.id == certificate_id)

    def certificate_by_serial(self, serial: str) -> IssuedCertificate | None:
        return self._certificate(acme_certificates.c.serial == serial)

    def certificate_by_cert_id(self, cert_id: str) -> IssuedCertificate | None:
        return self._certificate(acme_certificates.c.cert_id == cert_id)

    def _certificate(self, where: Any) -> IssuedCertificate | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(acme_certificates).where(where)).first()
        return None if row is None else IssuedCertificate(**row._asdict())

    def mark_replaced(self, cert_id: str, order_id: str) -> bool:
        with self._write() as conn:
            return conn.execute(update(acme_certificates).where(
                acme_certificates.c.cert_id == cert_id, acme_certificates.c.replaced_by.is_(None),
            ).values(replaced_by=order_id)).rowcount == 1

    # -- retention -------------------------------------------------------------------

    def purge_expired(self, now: datetime.datetime) -> dict[str, int]:
        with self._write() as conn:
            return purge_expired_acme(conn, now)


def _stale(stale_before: datetime.datetime) -> ColumnElement[bool]:
    """Processing since before ``stale_before``, or since a time not recorded (before migration 4)."""
    since = acme_challenges.c.processing_since
    return (acme_challenges.c.status == Status.PROCESSING.value) & or_(since.is_(None), since < stale_before)


def _insert_authorization(conn: Connection, authz: Authorization) -> None:
    conn.execute(insert(acme_authorizations), {
        "id": authz.id, "account_id": authz.account_id, "identifier_type": authz.identifier.type,
        "identifier_value": authz.identifier.value, "wildcard": authz.wildcard, "status": authz.status.value,
        "expires": authz.expires, "attestation": authz.attestation,
    })
    conn.execute(insert(acme_challenges), [{
        "id": c.id, "authorization_id": authz.id, "type": c.type.value, "token": c.token, "status": c.status.value,
        "validated_at": c.validated_at, "error": c.error, "processing_since": c.processing_since,
    } for c in authz.challenges])


def _account(row: Row[Any]) -> Account:
    return Account(id=row.id, provisioner=row.provisioner, jwk=row.jwk, thumbprint=row.thumbprint,
                   contact=tuple(row.contact), status=Status(row.status), created_at=row.created_at,
                   eab_key_id=row.eab_key_id)


def _eab_key(row: Row[Any]) -> EabKey:
    return EabKey(provisioner=row.provisioner, key_id=row.key_id, hmac_key=bytes(row.hmac_key),
                  created_at=row.created_at, account_id=row.account_id, bound_at=row.bound_at,
                  reference=row.reference or "", policy=dict(row.policy) if row.policy else None)


def _order(row: Row[Any], authorization_ids: tuple[str, ...]) -> Order:
    return Order(id=row.id, account_id=row.account_id, provisioner=row.provisioner, status=Status(row.status),
                 expires=row.expires, identifiers=tuple(Identifier(**i) for i in row.identifiers),
                 authorization_ids=authorization_ids, created_at=row.created_at, not_before=row.not_before,
                 not_after=row.not_after, error=row.error, certificate_id=row.certificate_id, replaces=row.replaces,
                 profile=row.profile)


def _challenge(row: Row[Any]) -> Challenge:
    return Challenge(id=row.id, authorization_id=row.authorization_id, type=ChallengeType(row.type),
                     token=row.token, status=Status(row.status), validated_at=row.validated_at, error=row.error,
                     processing_since=row.processing_since)


def _authorization(conn: Connection, row: Row[Any]) -> Authorization:
    challenges = conn.execute(select(acme_challenges).where(acme_challenges.c.authorization_id == row.id)
                              .order_by(acme_challenges.c.type))
    return Authorization(id=row.id, account_id=row.account_id,
                         identifier=Identifier(row.identifier_type, row.identifier_value), wildcard=bool(row.wildcard),
                         status=Status(row.status), expires=row.expires,
                         challenges=tuple(_challenge(c) for c in challenges), attestation=row.attestation)
