"""ca.json ``connections`` (ours, not step-ca's): how long a client may take for
the TLS handshake, for a complete request header and between requests on a
keep-alive connection, and how many connections one worker holds at most."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from appliance.errors import BadRequest
from appliance.pki.duration import parse_duration

MAX_TIMEOUT = datetime.timedelta(hours=1)
MAX_CONNECTIONS = 1_000_000
FIELDS = ("handshakeTimeout", "requestTimeout", "idleTimeout", "maxConnectionsPerWorker")


@dataclass(frozen=True)
class ConnectionSettings:
    """Deadlines and the per-worker connection cap (see README, "Connections")."""

    handshake_timeout: datetime.timedelta = datetime.timedelta(seconds=10)
    request_timeout: datetime.timedelta = datetime.timedelta(seconds=10)
    idle_timeout: datetime.timedelta = datetime.timedelta(seconds=5)
    max_connections_per_worker: int = 1024


def _timeout(section: dict[str, Any], name: str, default: datetime.timedelta) -> datetime.timedelta:
    value = section.get(name)
    if value is None:
        return default
    try:
        timeout = parse_duration(value)
    except (BadRequest, OverflowError, ValueError):
        raise BadRequest(f"ca.json: 'connections.{name}' must be a duration such as \"10s\", not {value!r}") from None
    if not datetime.timedelta(0) < timeout <= MAX_TIMEOUT:
        raise BadRequest(f"ca.json: 'connections.{name}' must be more than 0s and at most 1h, not {value!r}")
    return timeout


def parse_connections(section: dict[str, Any]) -> ConnectionSettings:
    """The ``connections`` object; ``BadRequest`` naming the field for a bad or unknown member."""
    for name in section:
        if name not in FIELDS:
            raise BadRequest(f"ca.json: unknown field 'connections.{name}' (known: {', '.join(FIELDS)})")
    defaults = ConnectionSettings()
    cap = section.get("maxConnectionsPerWorker", defaults.max_connections_per_worker)
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CONNECTIONS:
        raise BadRequest(f"ca.json: 'connections.maxConnectionsPerWorker' must be a whole number from 1 to "
                         f"{MAX_CONNECTIONS}, not {cap!r}")
    return ConnectionSettings(
        handshake_timeout=_timeout(section, "handshakeTimeout", defaults.handshake_timeout),
        request_timeout=_timeout(section, "requestTimeout", defaults.request_timeout),
        idle_timeout=_timeout(section, "idleTimeout", defaults.idle_timeout),
        max_connections_per_worker=cap,
    )
