"""The web console's logins through an OpenID provider (migration 20): a login under way
(its state, nonce and PKCE verifier, until the provider sends the browser back) and a
session once logged in. A row is found by the SHA-256 of the random token in the
browser's cookie, never by the token itself; every instance sharing the database sees it."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from sqlalchemy import JSON, Column, Engine, Index, Select, String, Table, delete, insert, select

from appliance.db.schema import metadata
from appliance.db.types import UTCDateTime

LOGIN, SESSION = "login", "session"

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_sessions_expires_at", "expires_at"),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessionStore:
    """Logins under way and sessions, by the hash of their cookie's token."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, token: str, kind: str, data: dict[str, Any], expires_at: datetime.datetime,
            now: datetime.datetime) -> None:
        """Store a row (and drop the expired ones)."""
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
            conn.execute(insert(console_sessions).values(token_hash=token_hash(token), kind=kind, data=data,
                                                         expires_at=expires_at))

    def get(self, token: str, kind: str, now: datetime.datetime) -> dict[str, Any] | None:
        """The data of an unexpired row of ``kind``."""
        with self.engine.connect() as conn:
            row = conn.execute(_unexpired(token, kind, now)).first()
        return None if row is None else dict(row.data)

    def take(self, token: str, kind: str, now: datetime.datetime) -> dict[str, Any] | None:
        """``get`` and delete: a row used once (a login's state), by one of concurrent requests only."""
        with self.engine.begin() as conn:
            row = conn.execute(_unexpired(token, kind, now)).first()
            taken = conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash(token)))
        return None if row is None or taken.rowcount != 1 else dict(row.data)

    def delete(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash(token)))


def _unexpired(token: str, kind: str, now: datetime.datetime) -> Select[Any]:
    return select(console_sessions.c.data).where(console_sessions.c.token_hash == token_hash(token),
                                                 console_sessions.c.kind == kind, console_sessions.c.expires_at > now)
