"""The console's queries: pages of certificates (keyset paging on the ``not_after``
index, newest expiry first; a search by name on the name index, in name order), one
certificate, the expiry timeline, ACME accounts and orders, the published CRL.
Read-only; every list is bounded by its page size."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import ColumnElement, Engine, Select, and_, case, func, literal, not_, or_, select
from sqlalchemy.sql import Executable

from appliance.db.acme_schema import acme_accounts, acme_orders
from appliance.db.crl_store import CrlState, crl_state
from appliance.db.name_index import NAME_LENGTH, certificate_names, name_order, names_after, names_beginning
from appliance.db.schema import certificates, revocations
from appliance.errors import BadRequest
from appliance.pki.serial import MAX_SERIAL

PAGE_SIZE = 50
#: How many matching names a page of a filtered search by name reads at most: a filter that
#: excludes nearly every match ends the page early (its next page goes on) instead of reading
#: every match in one request.
SCAN_BUDGET = 5000
STATUSES = ("all", "active", "expired", "revoked")
MAX_QUERY = 255
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)
_SERIAL_SHAPED = re.compile(r"0x[0-9a-f]+|[0-9a-f]{2}(?::[0-9a-f]{2})+|[0-9a-f]{8,}")
_HEX_SERIAL = re.compile(r"(?:0x)?[0-9a-f]{1,40}|[0-9a-f]{2}(?::[0-9a-f]{2}){0,19}")
#: The expiry timeline's windows, from now.
TIMELINE = (("24 hours", datetime.timedelta(days=1)), ("7 days", datetime.timedelta(days=7)),
            ("30 days", datetime.timedelta(days=30)), ("90 days", datetime.timedelta(days=90)))


@dataclass(frozen=True)
class Cursor:
    """Where a page of a keyset-paged list starts: after this (time, key)."""

    time: datetime.datetime
    key: str

    def encode(self) -> str:
        return f"{(self.time - _EPOCH) // _MICROSECOND}.{self.key}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor in a query string ("" for the first page); ``BadRequest`` if malformed."""
        if not text:
            return None
        micros, _, key = text.partition(".")
        if not re.fullmatch(r"-?\d{1,18}", micros) or not key or len(key) > 64 or not key.isascii():
            raise BadRequest("invalid page cursor")
        try:
            return cls(_EPOCH + int(micros) * _MICROSECOND, key)
        except OverflowError:
            raise BadRequest("invalid page cursor") from None


@dataclass(frozen=True)
class NameCursor:
    """Where a page of a search by name starts: after this (name, serial)."""

    name: str
    serial: str

    def encode(self) -> str:
        return f"{self.serial}.{self.name}"

    @classmethod
    def decode(cls, text: str) -> NameCursor | None:
        """The cursor in a query string ("" for the first page); ``BadRequest`` if malformed."""
        if not text:
            return None
        serial, _, name = text.partition(".")
        if not re.fullmatch(r"\d{1,49}", serial) or not name or len(name) > NAME_LENGTH or "\x00" in name:
            raise BadRequest("invalid page cursor")
        return cls(name, serial)


@dataclass(frozen=True)
class CertificateFilter:
    """A search (serial, or part of the subject or of a SAN), a provisioner, a status."""

    query: str = ""
    provisioner: str = ""
    status: str = "all"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        if len(self.query) > MAX_QUERY or len(self.provisioner) > MAX_QUERY:
            raise BadRequest(f"search terms are limited to {MAX_QUERY} characters")
        if "\x00" in self.query + self.provisioner:
            raise BadRequest("search terms cannot contain NUL characters")

    @property
    def by_name(self) -> bool:
        """A search by (the beginning of) a name: any term that is not serial-shaped."""
        return bool(self.query.strip()) and not _serials(self.query.strip())


@dataclass(frozen=True)
class CertificateRow:
    serial: str
    subject: str
    sans: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    provisioner: str
    revoked_at: datetime.datetime | None
    #: The name a search by name matched (a certificate is listed once per name that matches).
    matched: str = ""

    def status(self, now: datetime.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.not_after > now else "expired"


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursor of the next (None on the last); ``cut``: the page ended
    at the scan budget, before it was full."""

    rows: Sequence[Any]
    next: Cursor | NameCursor | None
    cut: bool = False


@dataclass(frozen=True)
class CertificateDetail:
    row: CertificateRow
    pem: str
    revocation_reason_code: int | None
    revocation_reason: str
    revoked_by: str


@dataclass(frozen=True)
class AcmeAccountRow:
    id: str
    provisioner: str
    contact: tuple[str, ...]
    status: str
    created_at: datetime.datetime


@dataclass(frozen=True)
class AcmeOrderRow:
    id: str
    account_id: str
    provisioner: str
    status: str
    identifiers: tuple[str, ...]
    expires: datetime.datetime
    created_at: datetime.datetime
    certificate_id: str


def serial_candidates(text: str) -> set[str]:
    """The decimal serials ``text`` may mean: itself as decimal, and as hex (``0x``, colons or not)."""
    text = text.strip().lower()
    found = set()
    if text.isdigit() and text.isascii():
        found.add(int(text, 10))
    if _HEX_SERIAL.fullmatch(text):
        found.add(int(text.removeprefix("0x").replace(":", ""), 16))
    return {str(value) for value in found if 0 < value <= MAX_SERIAL}


def _serials(query: str) -> set[str]:
    """The serials a serial-shaped query (``0x``, colons, or 8+ hex digits) may mean; none for any other."""
    return serial_candidates(query) if _SERIAL_SHAPED.fullmatch(query.lower()) else set()


def page_cursor(where: CertificateFilter, text: str) -> Cursor | NameCursor | None:
    """The cursor of a page of ``where``'s list, from its query string."""
    return NameCursor.decode(text) if where.by_name else Cursor.decode(text)


def _seek(after: Cursor | None, time_column: Any, key_column: Any) -> ColumnElement[bool]:
    """Rows strictly after ``after`` in (time, key) descending order: written out, not as a row
    comparison, of which MariaDB reads no index range (a page in the middle took seconds)."""
    if after is None:
        return literal(True)
    time = literal(after.time, time_column.type)
    return and_(time_column <= time, or_(time_column < time, key_column < literal(after.key)))


#: MariaDB joins the revocations first (few rows) and then reads each certificate's row by its
#: key, which costs a random read of the wide table per revocation (a second for 10,000): it
#: must walk the certificates' ``not_after`` index instead, probing the small revocations table.
_CERTIFICATES_FIRST = "STRAIGHT_JOIN"


_COLUMNS = (certificates.c.serial, certificates.c.subject, certificates.c.sans, certificates.c.not_before,
            certificates.c.not_after, certificates.c.provisioner, revocations.c.revoked_at)
_WITH_REVOCATION = certificates.outerjoin(revocations, revocations.c.serial == certificates.c.serial)


def _row(r: Any, matched: str = "") -> CertificateRow:
    return CertificateRow(r.serial, r.subject, tuple(r.sans), r.not_before, r.not_after, r.provisioner,
                          r.revoked_at, matched)


def _filtered(query: Select[Any], where: CertificateFilter, now: datetime.datetime) -> Select[Any]:
    """``query`` narrowed to ``where``'s provisioner and status."""
    if where.provisioner:
        query = query.where(certificates.c.provisioner == where.provisioner)
    if where.status == "revoked":
        query = query.where(revocations.c.serial.is_not(None))
    elif where.status == "active":
        query = query.where(certificates.c.not_after > now, revocations.c.serial.is_(None))
    elif where.status == "expired":
        query = query.where(certificates.c.not_after <= now, revocations.c.serial.is_(None))
    return query


class ReadModel:
    """The console's read side of the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _all(self, query: Executable) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def certificates(self, where: CertificateFilter, now: datetime.datetime,
                     after: Cursor | NameCursor | None = None, size: int = PAGE_SIZE,
                     budget: int = SCAN_BUDGET) -> Page:
        """One page of the certificates ``where`` selects: latest ``not_after`` first, or, for a search
        by name, one row per matching name in the name index's order (a page reads a page of the
        index, not every match, however common the name's beginning)."""
        if where.by_name != isinstance(after, NameCursor) and after is not None:
            raise BadRequest("invalid page cursor")
        if where.by_name:
            return self._named(where, now, after if isinstance(after, NameCursor) else None, size, budget)
        query = (select(*_COLUMNS).select_from(_WITH_REVOCATION)
                 .where(_seek(after if isinstance(after, Cursor) else None, certificates.c.not_after,
                              certificates.c.serial))
                 .order_by(certificates.c.not_after.desc(), certificates.c.serial.desc()).limit(size + 1)
                 .prefix_with(_CERTIFICATES_FIRST, dialect="mysql"))
        if where.query.strip():
            query = query.where(certificates.c.serial.in_(sorted(_serials(where.query.strip()))))
        rows = [_row(r) for r in self._all(_filtered(query, where, now))]
        return _page(rows, size, lambda row: Cursor(row.not_after, row.serial))

    def _named(self, where: CertificateFilter, now: datetime.datetime, after: NameCursor | None,
               size: int, budget: int) -> Page:
        """A search by name: the name index's range, in its order, joined to each certificate. With a
        filter, the range ends ``budget`` names on (found first, from the index alone)."""
        dialect = self.engine.dialect.name
        matching = names_beginning(where.query.strip(), dialect)
        if after is not None:
            matching = and_(matching, names_after(after.name, after.serial, dialect))
        end = None
        if where.provisioner or where.status != "all":
            end = self._first(select(certificate_names.c.name, certificate_names.c.serial).where(matching)
                              .order_by(*name_order()).offset(budget - 1).limit(1))
        query = (select(*_COLUMNS, certificate_names.c.name)
                 .select_from(certificate_names.join(_WITH_REVOCATION,
                                                     certificates.c.serial == certificate_names.c.serial))
                 .where(matching).order_by(*name_order()).limit(size + 1))
        if end is not None:
            query = query.where(not_(names_after(end.name, end.serial, dialect)))
        rows = [_row(r, r.name) for r in self._all(_filtered(query, where, now))]
        page = _page(rows, size, lambda row: NameCursor(row.matched, row.serial))
        if end is not None and page.next is None:  # not full: the budget ran out, the search goes on
            return Page(page.rows, NameCursor(end.name, end.serial), cut=True)
        return page

    def _first(self, query: Executable) -> Any:
        found = self._all(query)
        return found[0] if found else None

    def certificate(self, serial: str) -> CertificateDetail | None:
        query = (select(certificates, revocations.c.revoked_at, revocations.c.reason_code, revocations.c.reason,
                        revocations.c.provisioner.label("revoked_by"))
                 .select_from(certificates.outerjoin(revocations, revocations.c.serial == certificates.c.serial))
                 .where(certificates.c.serial == serial))
        found = self._all(query)
        if not found:
            return None
        r = found[0]
        return CertificateDetail(_row(r), r.pem, r.reason_code, r.reason or "", r.revoked_by or "")

    def expiry_timeline(self, now: datetime.datetime) -> list[tuple[str, int]]:
        """How many unrevoked certificates expire within each window from now: one range count on the
        ``not_after`` index per band between windows (each index entry read once; one count with a
        filter per window costs ten times more), summed, less the revoked ones in each window."""
        def expiring(column: Any, start: datetime.timedelta, end: datetime.timedelta) -> ColumnElement[bool]:
            return and_(column > now + start, column <= now + end)

        starts = [datetime.timedelta(0), *(window for _, window in TIMELINE[:-1])]
        bands = [int(self._all(select(func.count()).select_from(certificates)
                               .where(expiring(certificates.c.not_after, start, end)))[0][0])
                 for start, (_, end) in zip(starts, TIMELINE)]
        # The revoked ones expiring within the longest window: a range of the revocations' own not_after
        # index (migration 21), no join. COUNT(CASE ...), not COUNT(*) FILTER: MariaDB.
        revoked = self._all(select(*(func.count(case((revocations.c.not_after <= now + window, 1)))
                                     for _, window in TIMELINE))
                            .where(expiring(revocations.c.not_after, datetime.timedelta(0), TIMELINE[-1][1])))[0]
        return [(label, sum(bands[:i + 1]) - int(revoked[i] or 0)) for i, (label, _) in enumerate(TIMELINE)]

    def revocation_count(self) -> int:
        return int(self._all(select(func.count()).select_from(revocations))[0][0])

    def crl_state(self) -> CrlState | None:
        with self.engine.connect() as conn:
            return crl_state(conn)

    def acme_accounts(self, after: Cursor | None = None, size: int = PAGE_SIZE) -> Page:
        query = (select(acme_accounts.c.id, acme_accounts.c.provisioner, acme_accounts.c.contact,
                        acme_accounts.c.status, acme_accounts.c.created_at)
                 .where(_seek(after, acme_accounts.c.created_at, acme_accounts.c.id))
                 .order_by(acme_accounts.c.created_at.desc(), acme_accounts.c.id.desc()).limit(size + 1))
        rows = [AcmeAccountRow(r.id, r.provisioner, tuple(r.contact or ()), r.status, r.created_at)
                for r in self._all(query)]
        return _page(rows, size, lambda row: Cursor(row.created_at, row.id))

    def acme_orders(self, after: Cursor | None = None, size: int = PAGE_SIZE, account: str = "") -> Page:
        query = (select(acme_orders.c.id, acme_orders.c.account_id, acme_orders.c.provisioner, acme_orders.c.status,
                        acme_orders.c.identifiers, acme_orders.c.expires, acme_orders.c.created_at,
                        acme_orders.c.certificate_id)
                 .where(_seek(after, acme_orders.c.created_at, acme_orders.c.id),
                        acme_orders.c.account_id == account if account else literal(True))
                 .order_by(acme_orders.c.created_at.desc(), acme_orders.c.id.desc()).limit(size + 1))
        rows = [AcmeOrderRow(r.id, r.account_id, r.provisioner, r.status,
                             tuple(f"{i.get('type', '')}:{i.get('value', '')}" for i in r.identifiers or ()),
                             r.expires, r.created_at, r.certificate_id or "") for r in self._all(query)]
        return _page(rows, size, lambda row: Cursor(row.created_at, row.id))


def _page(rows: list[Any], size: int, cursor_of: Any) -> Page:
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, cursor_of(rows[-1]) if more else None)
