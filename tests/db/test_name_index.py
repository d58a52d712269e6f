"""The certificates' names (migration 15): written with each certificate, backfilled for those
recorded before, searched by the console by a name or its beginning, on every engine."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from sqlalchemy import inspect, insert, select

from appliance.console.read_model import CertificateFilter, Cursor, ReadModel, page_cursor
from appliance.db import SQLDatabase, migrations, open_database
from appliance.db.interfaces import CertificateRecord, RevocationRecord
from appliance.errors import BadRequest
from appliance.db.name_index import MIGRATION_15_INDEXES, NAME_LENGTH, certificate_names, searchable_names
from appliance.db.schema import certificates
from tests.db.conftest import DbConfigFactory

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
LONG_URI = "spiffe://ca.test/" + "x" * 300


def _record(serial: int, subject: str, sans: tuple[str, ...], provisioner: str = "jwk") -> CertificateRecord:
    return CertificateRecord(serial=str(serial), subject=subject, sans=sans, not_before=NOW,
                             not_after=NOW + datetime.timedelta(days=serial), provisioner=provisioner,
                             pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", issued_at=NOW)


RECORDS = (
    _record(1, "CN=Web.CA.test,O=Example", ("web.ca.test", "www.ca.test")),
    _record(2, "CN=db.ca.test", ("db.ca.test", "10.0.0.7")),
    _record(3, "CN=Alice Smith", ("alice@ca.test", LONG_URI), provisioner="oidc"),
    _record(4, "CN=web_1.ca.test", ("web_1.ca.test",)),
)


def _found(database: SQLDatabase, query: str, provisioner: str = "") -> list[str]:
    page = ReadModel(database.engine).certificates(CertificateFilter(query, provisioner), NOW)
    return sorted(row.serial for row in page.rows)


def _check_search(database: SQLDatabase) -> None:
    assert _found(database, "WEB") == ["1", "4"]  # case-insensitive beginning of a name
    assert _found(database, "www.ca.test") == ["1"]  # a SAN, whole
    assert _found(database, "web.") == ["1"]  # "_" is not a wildcard ...
    assert _found(database, "web_") == ["4"]  # ... nor matched by one
    assert _found(database, "%") == [] and _found(database, "ca.test") == []  # no substring in the middle
    assert _found(database, "alice s") == ["3"] and _found(database, "alice@") == ["3"]  # CN, email SAN
    assert _found(database, "10.0.0.7") == ["2"]
    assert _found(database, LONG_URI[:NAME_LENGTH]) == ["3"]  # a long name by its beginning
    assert _found(database, "o=example") == []  # names, not the rest of the subject
    assert _found(database, "", provisioner="oidc") == ["3"]
    assert _found(database, "web", provisioner="oidc") == []


def test_recorded_certificates_are_found_by_a_name_or_its_beginning(db: SQLDatabase) -> None:
    for record in RECORDS:
        db.record_certificate(record)
    _check_search(db)


def test_migration_15_backfills_certificates_recorded_before_it(db_config: DbConfigFactory,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = db_config()
    monkeypatch.setattr(migrations, "STEPS", tuple(s for s in migrations.STEPS if s.version < 15))
    database = open_database(config)
    with database.engine.begin() as conn:  # the database as version 14 left it
        for index in certificates.indexes:
            if index.name in MIGRATION_15_INDEXES:
                index.drop(conn)
        conn.execute(insert(certificates), [
            {"serial": r.serial, "subject": r.subject, "sans": list(r.sans), "not_before": r.not_before,
             "not_after": r.not_after, "provisioner": r.provisioner, "pem": r.pem, "issued_at": r.issued_at}
            for r in RECORDS])
    database.close()
    monkeypatch.undo()
    database = open_database(config)
    try:
        assert database.migrate() == []
        assert set(MIGRATION_15_INDEXES) <= {i["name"] for i in inspect(database.engine).get_indexes("certificates")}
        with database.engine.connect() as conn:
            rows = conn.execute(select(certificate_names.c.name, certificate_names.c.serial)).all()
        expected = {(name, r.serial) for r in RECORDS for name in searchable_names(r.subject, r.sans)}
        assert sorted(rows) == sorted(expected)
        _check_search(database)
    finally:
        database.close()


def test_searchable_names() -> None:
    assert searchable_names("CN=A.example,CN=b.example,O=X", ("A.example", "")) == {"a.example", "b.example"}
    assert searchable_names("not an rfc 4514 name", ("x.test",)) == {"x.test"}
    assert searchable_names("CN=x", (LONG_URI,)) == {"x", LONG_URI[:NAME_LENGTH]}


def _pages(model: ReadModel, where: CertificateFilter, budget: int = 100, cuts: list[bool] | None = None) -> list[Any]:
    """Every row of ``where``'s list, page by page (2 a page), through the encoded cursors."""
    rows: list[Any] = []
    after = None
    while True:
        page = model.certificates(where, NOW, after, size=2, budget=budget)
        rows.extend(page.rows)
        if cuts is not None:
            cuts.append(page.cut)
        if page.next is None:
            return rows
        after = page_cursor(where, page.next.encode())


def test_lists_page_through_every_row_once_on_every_engine(db: SQLDatabase) -> None:
    """A search by name lists each matching name once, in byte order, however the engine collates;
    the plain list goes newest expiry first; a mismatched cursor is refused."""
    for record in (*RECORDS, _record(5, "CN=web-z.ca.test", ("web-z.ca.test", "WEB-a.ca.test", "web.ca.test")),
                   _record(6, "CN=Web-B.ca.test", ())):
        db.record_certificate(record)
    db.revoke(RevocationRecord(serial="6", reason_code=1, reason="", revoked_at=NOW, provisioner="jwk"))
    model = ReadModel(db.engine)
    named = [(row.matched, row.serial) for row in _pages(model, CertificateFilter("web"))]
    assert named == [("web-a.ca.test", "5"), ("web-b.ca.test", "6"), ("web-z.ca.test", "5"),
                     ("web.ca.test", "1"), ("web.ca.test", "5"), ("web_1.ca.test", "4")]
    assert [(r.matched, r.serial) for r in _pages(model, CertificateFilter("web", status="revoked"))] == [
        ("web-b.ca.test", "6")]
    filtered = CertificateFilter("web", provisioner="jwk", status="active")
    assert [r.serial for r in _pages(model, filtered)] == ["5", "5", "1", "5", "4"]
    cuts: list[bool] = []  # a filtered page reads at most 2 names: the same rows, on more pages
    assert [r.serial for r in _pages(model, filtered, budget=2, cuts=cuts)] == ["5", "5", "1", "5", "4"]
    assert [r.serial for r in _pages(model, CertificateFilter("web", status="revoked"), budget=2)] == ["6"]
    assert True in cuts
    assert [r.serial for r in _pages(model, CertificateFilter())] == ["6", "5", "4", "3", "2", "1"]
    assert [r.serial for r in _pages(model, CertificateFilter(status="revoked"))] == ["6"]
    with pytest.raises(BadRequest):
        model.certificates(CertificateFilter("web"), NOW, Cursor(NOW, "1"))


def test_expiry_timeline_on_every_engine(db: SQLDatabase) -> None:
    for record in RECORDS:  # expiring 1, 2, 3 and 4 days from NOW
        db.record_certificate(record)
    db.revoke(RevocationRecord(serial="2", reason_code=1, reason="", revoked_at=NOW, provisioner="jwk"))
    assert ReadModel(db.engine).expiry_timeline(NOW) == [("24 hours", 1), ("7 days", 3), ("30 days", 3),
                                                         ("90 days", 3)]
