"""What the ACME core needs from storage; ``appliance.acme.sql_store`` implements it.

Every state change is a compare-and-set on the current status, so several
processes sharing one database never move an object twice.
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from appliance.acme.models import Account, Authorization, Challenge, EabKey, IssuedCertificate, Order, Status


class AcmeStore(Protocol):
    """Accounts, EAB keys, orders, authorizations, challenges, nonces, certificates."""

    # nonces
    def add_nonce(self, nonce: str, expires_at: datetime.datetime) -> None: ...

    def use_nonce(self, nonce: str, now: datetime.datetime) -> bool:
        """Delete an unexpired nonce: True once, False for unknown, used or expired ones."""
        ...

    # accounts
    def create_account(self, account: Account) -> Account:
        """Store a new account (binding its EAB key if it has one); with the same key
        already registered, the existing account. ``Conflict`` if the EAB key is
        unknown or already bound."""
        ...

    def get_account(self, account_id: str) -> Account | None: ...

    def account_by_thumbprint(self, provisioner: str, thumbprint: str) -> Account | None: ...

    def update_account(self, account_id: str, *, contact: tuple[str, ...] | None = None,
                       status: Status | None = None) -> Account: ...

    def change_account_key(self, account_id: str, old_thumbprint: str, jwk: dict[str, Any],
                           thumbprint: str) -> bool:
        """Replace the key if it is still ``old_thumbprint``; ``Conflict`` if another account has the new key."""
        ...

    # external account binding
    def add_eab_key(self, key: EabKey) -> None:
        """``Conflict`` if the provisioner already has that key id."""
        ...

    def get_eab_key(self, provisioner: str, key_id: str) -> EabKey | None: ...

    def list_eab_keys(self, provisioner: str) -> list[EabKey]: ...

    def remove_eab_key(self, provisioner: str, key_id: str) -> bool: ...

    def set_eab_policy(self, provisioner: str, key_id: str, policy: dict[str, Any] | None) -> bool:
        """Set (None: remove) the policy of the account a key binds; False if there is no such key."""
        ...

    # orders, authorizations, challenges
    def create_order(self, order: Order, authorizations: list[Authorization]) -> None:
        """The order, its new authorizations and their challenges, in one transaction."""
        ...

    def get_order(self, order_id: str) -> Order | None: ...

    def account_orders(self, account_id: str) -> list[str]:
        """Ids of the account's orders, oldest first."""
        ...

    def set_order_status(self, order_id: str, status: Status, expected: frozenset[Status], *,
                         error: dict[str, Any] | None = None, certificate_id: str | None = None) -> bool: ...

    def get_authorization(self, authorization_id: str) -> Authorization | None: ...

    def reusable_authorization(self, account_id: str, identifier_type: str, value: str, wildcard: bool,
                               valid_after: datetime.datetime) -> Authorization | None:
        """A valid authorization of the account for the identifier expiring after ``valid_after``."""
        ...

    def set_authorization_status(self, authorization_id: str, status: Status,
                                 expected: frozenset[Status]) -> bool: ...

    def record_attestation(self, authorization_id: str, challenge_id: str, attestation: dict[str, Any],
                           validated_at: datetime.datetime) -> bool:
        """In one transaction: the pending challenge valid, its pending authorization valid
        keeping ``attestation`` (device-attest-01); False if the challenge was not pending."""
        ...

    def get_challenge(self, challenge_id: str) -> Challenge | None: ...

    def set_challenge_status(self, challenge_id: str, status: Status, expected: frozenset[Status], *,
                             error: dict[str, Any] | None = None,
                             validated_at: datetime.datetime | None = None) -> bool: ...

    def start_challenge(self, challenge_id: str, now: datetime.datetime, stale_before: datetime.datetime) -> bool:
        """Claim a validation: pending -> processing, or a processing one that started
        before ``stale_before`` (its process died); either way ``processing_since = now``."""
        ...

    def stale_challenges(self, stale_before: datetime.datetime, now: datetime.datetime) -> list[str]:
        """Ids of challenges processing since before ``stale_before`` (or since an unknown
        time) whose authorization is still pending and unexpired."""
        ...

    # certificates
    def record_certificate(self, certificate: IssuedCertificate) -> None: ...

    def get_certificate(self, certificate_id: str) -> IssuedCertificate | None: ...

    def certificate_by_serial(self, serial: str) -> IssuedCertificate | None: ...

    def certificate_by_cert_id(self, cert_id: str) -> IssuedCertificate | None: ...

    def mark_replaced(self, cert_id: str, order_id: str) -> bool:
        """Note the order that replaces a certificate: True the first time only."""
        ...

    # retention
    def purge_expired(self, now: datetime.datetime) -> dict[str, int]:
        """Delete expired nonces, orders and authorizations; the rows deleted, by kind."""
        ...
