"""The per-worker cap: listeners pause when the worker is full and resume when a slot frees."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from appliance.config.connections import ConnectionSettings
from appliance.server.connections import Acceptor, ConnectionSlots


def test_listeners_pause_at_the_cap_and_resume_below_it() -> None:
    async def scenario() -> None:
        slots = ConnectionSlots(ConnectionSettings(max_connections_per_worker=2))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            acceptor = Acceptor(sock, lambda release: asyncio.Protocol(), None, slots)
            assert acceptor.reading
            first, second = slots.take(), slots.take()
            assert slots.full and not acceptor.reading
            first()
            first()  # a slot is given back once only
            assert slots.used == 1 and acceptor.reading
            second()
            assert slots.used == 0
            acceptor.close()
            assert not acceptor.reading and slots.acceptors == []
            slots.take()
            slots.take()()  # a closed acceptor does not come back
            assert not acceptor.reading

    asyncio.run(scenario())


def test_reaching_the_cap_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    slots = ConnectionSlots(ConnectionSettings(max_connections_per_worker=1), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "appliance.server"):
        slots.take()()
        now[0] = 59.0
        slots.take()()
        now[0] = 60.0
        slots.take()()
    assert caplog.text.count("connections.maxConnectionsPerWorker") == 2
