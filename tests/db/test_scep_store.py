"""SCEP transactions on each engine: of many concurrent claims of one transaction exactly
one may issue; the others see it (PENDING, then its certificate)."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from appliance.db.scep_schema import TRANSACTION_LIFETIME
from appliance.db.sql import SQLDatabase
from appliance.scep.store import SQLScepStore, TransactionKey
from tests.ca_fixtures import new_key

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def _certificate() -> x509.Certificate:
    key = new_key()
    name = x509.Name.from_rfc4514_string("CN=device")
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))


def test_one_claim_wins_and_the_others_see_its_certificate(db: SQLDatabase) -> None:
    store = SQLScepStore(db)
    key = TransactionKey("scep", "tx-1")
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: store.claim(key, "aa" * 32, NOW), range(8)))
    assert claims.count(None) == 1
    assert all(c is not None and c.request_sha256 == "aa" * 32 and c.certificate is None for c in claims if c)
    certificate = _certificate()
    store.complete(key, certificate)
    again = store.claim(key, "aa" * 32, NOW)
    assert again is not None and again.certificate == certificate
    assert store.latest("scep", "tx-1") == again
    assert store.latest("other", "tx-1") is None
    # a renewal under the same transactionID is another transaction
    assert store.claim(TransactionKey("scep", "tx-1", renews="42"), "bb" * 32, NOW) is None


def test_release_forgets_only_an_unissued_claim(db: SQLDatabase) -> None:
    store = SQLScepStore(db)
    refused, issued = TransactionKey("scep", "refused"), TransactionKey("scep", "issued")
    assert store.claim(refused, "aa" * 32, NOW) is None
    store.release(refused)
    assert store.latest("scep", "refused") is None
    assert store.claim(issued, "aa" * 32, NOW) is None
    store.complete(issued, _certificate())
    store.release(issued)
    assert store.latest("scep", "issued") is not None


def test_retention_purges_transactions_past_their_lifetime(db: SQLDatabase) -> None:
    """``db.retention``'s purge, with its clock injected: a transaction lives ``TRANSACTION_LIFETIME``."""
    store = SQLScepStore(db)
    old, recent = TransactionKey("scep", "old"), TransactionKey("scep", "recent")
    assert store.claim(old, "aa" * 32, NOW) is None
    store.complete(old, _certificate())
    assert store.claim(recent, "bb" * 32, NOW + datetime.timedelta(days=20)) is None
    assert db.purge_expired(NOW + TRANSACTION_LIFETIME)["scep_transactions"] == 0  # not past it yet
    assert db.purge_expired(NOW + TRANSACTION_LIFETIME + datetime.timedelta(seconds=1))["scep_transactions"] == 1
    assert store.latest("scep", "old") is None and store.latest("scep", "recent") is not None
    assert db.purge_expired(NOW + datetime.timedelta(days=51))["scep_transactions"] == 1


def test_a_pending_transaction_is_taken_by_one_poller_and_denied_for_good(db: SQLDatabase) -> None:
    store = SQLScepStore(db)
    key = TransactionKey("scep", "deferred")
    assert store.claim(key, "aa" * 32, NOW) is None
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name.from_rfc4514_string("CN=device")).sign(
        new_key(), hashes.SHA256())
    store.defer(key, csr)
    pending = store.latest("scep", "deferred")
    assert pending is not None and pending.state == "pending" and pending.csr == csr
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: store.take_pending(key), range(8)))
    assert taken.count(True) == 1
    store.deny(key)
    store.release(key)  # a denial is not forgotten: later polls are answered FAILURE
    denied = store.latest("scep", "deferred")
    assert denied is not None and denied.state == "denied" and not store.take_pending(key)
