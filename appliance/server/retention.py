"""The retention job of ``appliance serve``: purge expired used tokens, ACME state
(nonces, orders, authorizations, challenges) and old SCEP transactions at start, then every
``db.retention``.

It runs in a daemon thread of the supervisor, on a database connection of its own,
so a slow purge never delays signal handling or worker management. Instances that
share a database each run it: a purge is idempotent. A failure is logged and the
next interval retries."""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from appliance.pki.duration import format_duration
from appliance.db import SQLDatabase, open_database
from appliance.pki.clock import utc_now

log = logging.getLogger("appliance.retention")
STOP_TIMEOUT = 5.0


class RetentionJob:
    """Purges the database of a ``db`` section every ``interval`` (zero: never)."""

    def __init__(self, db_config: dict[str, Any], interval: datetime.timedelta) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._db_config, self._interval = db_config, interval
        self._database: SQLDatabase | None = None
        self._database_config: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name="appliance-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def update(self, db_config: dict[str, Any], interval: datetime.timedelta) -> None:
        """A reloaded ca.json: purge now, then on the new schedule (and database)."""
        with self._lock:
            self._db_config, self._interval = db_config, interval
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (a purge in progress is given a few seconds to finish) and
        close the database."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._close()

    def purge_once(self) -> dict[str, int] | None:
        """One purge, logged with its counts; None (logged) if it failed."""
        with self._lock:
            db_config, interval = self._db_config, self._interval
        try:
            if self._database is None or self._database_config != db_config:
                self._close()
                self._database, self._database_config = open_database(db_config), db_config
            counts = self._database.purge_expired(utc_now())
        except Exception as exc:
            log.error("retention: purge failed, retrying in %s: %s", format_duration(interval), exc)
            return None
        log.info("retention: deleted expired %s", ", ".join(f"{name} {count}" for name, count in counts.items()))
        return counts

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: an update or a stop from now on ends the wait
            if self._stopping:
                return
            with self._lock:
                interval = self._interval
            if interval:
                self.purge_once()
            self._wake.wait(interval.total_seconds() if interval else None)

    def _close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None
