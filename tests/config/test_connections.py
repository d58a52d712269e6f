"""ca.json ``connections``: defaults, Go durations, and a refusal naming the field."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from appliance.config import ConfigError, parse_config
from appliance.config.connections import ConnectionSettings

BASE = {"root": "/r.crt", "crt": "/i.crt", "key": "/i.key", "address": ":9000", "dnsNames": ["ca.example"]}


def _parse(connections: Any) -> ConnectionSettings:
    return parse_config({**BASE, "connections": connections}).connections


def test_defaults_when_absent() -> None:
    config = parse_config(dict(BASE))
    assert config.connections == ConnectionSettings()
    assert config.connections.handshake_timeout == datetime.timedelta(seconds=10)
    assert config.connections.max_connections_per_worker == 1024
    assert not any("connections" in notice for notice in config.notices)


def test_values_are_read() -> None:
    settings = _parse({"handshakeTimeout": "1.5s", "requestTimeout": "250ms", "idleTimeout": "1m",
                       "maxConnectionsPerWorker": 8})
    assert settings == ConnectionSettings(datetime.timedelta(seconds=1.5), datetime.timedelta(milliseconds=250),
                                          datetime.timedelta(minutes=1), 8)


@pytest.mark.parametrize(("connections", "field"), [
    ({"handshakeTimeout": "soon"}, "connections.handshakeTimeout"),
    ({"requestTimeout": "0s"}, "connections.requestTimeout"),
    ({"idleTimeout": "2h"}, "connections.idleTimeout"),
    ({"idleTimeout": 5}, "connections.idleTimeout"),
    ({"handshakeTimeout": "99999999999999999999h"}, "connections.handshakeTimeout"),
    ({"maxConnectionsPerWorker": 0}, "connections.maxConnectionsPerWorker"),
    ({"maxConnectionsPerWorker": "10"}, "connections.maxConnectionsPerWorker"),
    ({"maxConnectionsPerWorker": True}, "connections.maxConnectionsPerWorker"),
    ({"maxConnectionsPerWorker": 2.5}, "connections.maxConnectionsPerWorker"),
    ({"readTimeout": "1s"}, "connections.readTimeout"),
    ([], "connections"),
])
def test_invalid_values_refuse_to_start_naming_the_field(connections: Any, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _parse(connections)
    assert f"'{field}'" in raised.value.message
