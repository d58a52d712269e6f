"""Counts over the certificate inventory, for gauges and a console (``appliance.server.metrics``)."""

from __future__ import annotations

import datetime

from sqlalchemy import Connection, func, select

from appliance.db.schema import certificates, revocations


def certificates_expiring(conn: Connection, now: datetime.datetime, within: datetime.timedelta) -> int:
    """Certificates not revoked and still valid at ``now`` whose notAfter comes within ``within``."""
    query = (select(func.count()).select_from(certificates.outerjoin(
        revocations, revocations.c.serial == certificates.c.serial))
        .where(certificates.c.not_after > now, certificates.c.not_after <= now + within,
               revocations.c.serial.is_(None)))
    return int(conn.scalar(query) or 0)
