"""SCEP transactions on each engine: of many concurrent claims of one transaction exactly
one may issue; the others see it (PENDING, then its certificate)."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives import hashes

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
