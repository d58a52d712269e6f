"""The CRL table (created by its own migration step): the CRL last published by
any process sharing the database, with its number. Numbers only grow: a new CRL
is published only over the one its number follows, so two workers (or two
instances) never hand out numbers that go backwards."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Connection, LargeBinary, String, Table, insert, select, update
from sqlalchemy.dialects import mysql

from appliance.db.schema import metadata
from appliance.db.types import UTCDateTime

CURRENT = "current"

crls = Table(
    "crls",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("issuer", String(64), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("this_update", UTCDateTime, nullable=False),
    Column("der", LargeBinary().with_variant(mysql.LONGBLOB(), "mysql"), nullable=False),  # BLOB stops at 64 KiB
)


@dataclass(frozen=True)
class CrlState:
    """The published CRL's number, its issuer (SHA-256 of the issuing certificate,
    hex), the revocations revision it lists, and its thisUpdate."""

    number: int
    issuer: str
    revision: int
    this_update: datetime.datetime


def crl_state(conn: Connection) -> CrlState | None:
    row = conn.execute(select(crls.c.number, crls.c.issuer, crls.c.revision, crls.c.this_update)
                       .where(crls.c.name == CURRENT)).first()
    return None if row is None else CrlState(row.number, row.issuer, row.revision, row.this_update)


def crl_der(conn: Connection, number: int) -> bytes | None:
    """The published CRL if its number is still ``number``."""
    row = conn.execute(select(crls.c.der).where(crls.c.name == CURRENT, crls.c.number == number)).first()
    return None if row is None else bytes(row.der)


def publish_crl(conn: Connection, state: CrlState, der: bytes) -> bool:
    """Publish CRL ``state.number`` over ``state.number - 1`` (or as the first, 1);
    False if another process published that number first."""
    values = {"number": state.number, "issuer": state.issuer, "revision": state.revision, "this_update": state.this_update, "der": der}
    if state.number == 1:
        return crl_state(conn) is None and conn.execute(insert(crls).values(name=CURRENT, **values)).rowcount == 1
    result = conn.execute(update(crls).where(crls.c.name == CURRENT, crls.c.number == state.number - 1)
                          .values(**values))
    return result.rowcount == 1
