"""Retention of ACME state: expired nonces, orders and authorizations."""

from __future__ import annotations

import datetime

from sqlalchemy import Connection, delete, exists, select

from appliance.db.acme_schema import (acme_authorizations, acme_challenges, acme_nonces, acme_order_authorizations,
                                      acme_orders)


def purge_expired_acme(conn: Connection, now: datetime.datetime) -> dict[str, int]:
    """Delete expired nonces, orders (their certificates stay), and expired authorizations
    no live order uses, with their challenges; the rows deleted, by kind."""
    nonces = conn.execute(delete(acme_nonces).where(acme_nonces.c.expires_at < now)).rowcount
    expired_orders = select(acme_orders.c.id).where(acme_orders.c.expires < now)
    conn.execute(delete(acme_order_authorizations).where(acme_order_authorizations.c.order_id.in_(expired_orders)))
    orders = conn.execute(delete(acme_orders).where(acme_orders.c.expires < now)).rowcount
    linked = exists().where(acme_order_authorizations.c.authorization_id == acme_authorizations.c.id)
    expired_authz = select(acme_authorizations.c.id).where(acme_authorizations.c.expires < now, ~linked)
    challenges = conn.execute(delete(acme_challenges).where(
        acme_challenges.c.authorization_id.in_(expired_authz))).rowcount
    authorizations = conn.execute(delete(acme_authorizations).where(
        acme_authorizations.c.expires < now, ~linked)).rowcount
    return {"nonces": nonces, "orders": orders, "authorizations": authorizations, "challenges": challenges}
