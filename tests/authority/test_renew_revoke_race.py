"""Renew versus revoke on the same serials, raced from threads on SQLite and on
PostgreSQL: a revocation that committed before the renewal committed always wins.

The revocations come either from the renewing authority or from a second one
opened on the same database (its own engine, pool and, on SQLite, its own
writer lock: as another worker process has). Every commit and the end of every
operation draw a number from one sequence (SQLAlchemy ``commit`` listeners on
the authorities' engines), so that "the
revocation had committed before the renewal began to commit" is observed, not
guessed from timing. A third of the pairs start together; in another third the
revocation is let go at the moment the renewal has read the serial's revocation
status (its first ``SELECT`` on ``revocations``), the window a check outside the
recording transaction leaves open; in the last third when the renewal inserts its
certificate, the window a check inside that transaction leaves open without a lock.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509
from sqlalchemy import event

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.db import SQLDatabase, open_database
from appliance.errors import Unauthorized
from tests.ca_fixtures import TestCA, build_ca, make_csr, new_key
from tests.db.conftest import DbConfigFactory, db_config, mysql_config, postgres_config, sqlite_config  # noqa: F401

PAIRS = 48
BATCH = 8
#: When the revocation starts: with the renewal, when it reads the revocation status,
#: when it inserts its certificate.
RELEASE = ("", "FROM revocations", "INSERT INTO certificates")
#: How long a thread waits for its partner before the test gives up (a hang, not a timing).
PARTNER_TIMEOUT = 30.0


@dataclass
class Outcome:
    """One operation: whether it succeeded, the number of the last commit it began
    (None if it began none) and the number drawn when it returned."""

    ok: bool
    error: str
    last_commit: int | None
    ended: int


class CommitOrder:
    """Numbers commits and operation ends on one sequence, per thread; and lets a
    waiting thread go when the running operation first executes a given statement."""

    def __init__(self, *databases: SQLDatabase) -> None:
        self._count = itertools.count()
        self._local = threading.local()
        for database in databases:
            event.listen(database.engine, "commit", self._on_commit)
            event.listen(database.engine, "before_cursor_execute", self._on_execute)

    def _on_commit(self, _conn: Any) -> None:
        self._local.last_commit = next(self._count)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        release: tuple[str, threading.Event] | None = getattr(self._local, "release", None)
        if release is not None and release[0] in statement:
            release[1].set()

    def run(self, operation: Callable[[], object], release: tuple[str, threading.Event] | None = None) -> Outcome:
        """Run ``operation``; ``release`` = (statement text, event): set the event when the
        operation executes a statement containing that text."""
        self._local.last_commit = None
        self._local.release = release
        try:
            operation()
            ok, error = True, ""
        except Unauthorized as err:
            ok, error = False, str(err)
        finally:
            self._local.release = None
        return Outcome(ok, error, self._local.last_commit, next(self._count))


@pytest.fixture
def authorities(tmp_path: Path, db_config: DbConfigFactory) -> Iterator[tuple[Authority, Authority, TestCA]]:  # noqa: F811
    """Two authorities of one CA on one database, as two worker processes have them."""
    ca = build_ca(tmp_path / "ca")
    config, db_section = ca.config(), db_config()
    opened = [Authority.from_config(config, open_database(db_section), password=ca.password) for _ in range(2)]
    yield opened[0], opened[1], ca
    for authority in opened:
        authority.close()
        authority.database.close()


def _issue(authority: Authority, ca: TestCA, index: int) -> x509.Certificate:
    name = f"race{index}.test"
    csr, _ = make_csr(name, [name], new_key())
    return authority.sign(SignRequest(csr=csr, token=ca.token(name, sans=[name]))).certificate


def _race(authority: Authority, revoker: Authority, order: CommitOrder, certificate: x509.Certificate,
          revoke_on: str) -> tuple[list[threading.Thread], dict[str, Outcome]]:
    """Start renewing and revoking one certificate from two threads (the revocation
    once the renewal executes a statement containing ``revoke_on``, if given); the
    threads and the dictionary their outcomes land in."""
    serial = str(certificate.serial_number)
    start = threading.Barrier(2, timeout=PARTNER_TIMEOUT)
    reached = threading.Event()
    results: dict[str, Outcome] = {}

    def renew() -> None:
        start.wait()
        results["renew"] = order.run(lambda: authority.renew(certificate), (revoke_on, reached) if revoke_on else None)

    def revoke() -> None:
        start.wait()
        if revoke_on and not reached.wait(PARTNER_TIMEOUT):
            raise AssertionError(f"the renewal never executed {revoke_on!r}")
        results["revoke"] = order.run(lambda: revoker.revoke_authorized(serial, 4, "superseded", "admin"))

    threads = [threading.Thread(target=renew), threading.Thread(target=revoke)]
    for thread in threads:
        thread.start()
    return threads, results


@pytest.mark.parametrize("revoker", ["same authority", "second authority"])
def test_a_revocation_committed_first_always_wins(authorities: tuple[Authority, Authority, TestCA],
                                                  revoker: str) -> None:
    auth, second, ca = authorities
    revoking = auth if revoker == "same authority" else second
    database, other = auth.database, second.database
    assert isinstance(database, SQLDatabase) and isinstance(other, SQLDatabase)
    certificates = [_issue(auth, ca, index) for index in range(PAIRS)]
    order = CommitOrder(database, other)

    outcomes: list[tuple[int, Outcome, Outcome]] = []
    for first in range(0, PAIRS, BATCH):
        running = [(certificates[i].serial_number, *_race(auth, revoking, order, certificates[i], RELEASE[i % 3]))
                   for i in range(first, min(first + BATCH, PAIRS))]
        for serial, threads, results in running:
            for thread in threads:
                thread.join(PARTNER_TIMEOUT)
                assert not thread.is_alive(), "a renew/revoke thread hung"
            outcomes.append((serial, results["renew"], results["revoke"]))

    assert len(outcomes) == PAIRS
    assert all(revoke.ok for _, _, revoke in outcomes), [revoke.error for _, _, revoke in outcomes]
    assert all(database.get_revocation(str(serial)) is not None for serial, _, _ in outcomes)
    lost = [serial for serial, renew, revoke in outcomes
            if renew.ok and renew.last_commit is not None and revoke.ended < renew.last_commit]
    assert lost == [], f"{len(lost)} of {PAIRS} renewals recorded after their certificate's revocation committed"
    failed = [renew for _, renew, _ in outcomes if not renew.ok]
    assert all("revoked" in renew.error for renew in failed), [renew.error for renew in failed]
    assert failed, "no renewal lost the race: the test did not exercise the revoked-first order"
    renewed = sum(renew.ok for _, renew, _ in outcomes)
    with database.transaction() as conn:
        recorded = conn.exec_driver_sql("SELECT count(*) FROM certificates").scalar_one()
    assert recorded == PAIRS + renewed  # a renewal that lost recorded nothing
