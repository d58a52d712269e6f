"""``Type=notify``: ``appliance serve`` sends READY=1 to $NOTIFY_SOCKET once its workers
serve, and STOPPING=1 when told to stop; nothing without the variable."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from appliance.server.notify import sd_notify
from tests.e2e.harness import init_ca, launch
from tests.conftest import APPLIANCE


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False


def test_an_abstract_socket_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"appliance-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("READY=1") is True
        assert listener.recv(64) == b"READY=1"


@pytest.mark.slow
def test_serve_reports_ready_then_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = init_ca(tmp_path)
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(60)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        server = launch(ca, [str(APPLIANCE), "serve", str(ca.ca_json), "--password-file", str(ca.password_file),
                             "--workers", "1"])  # returns once /health answers
        try:
            assert listener.recv(64) == b"READY=1"
            server.signal(signal.SIGTERM)
            assert listener.recv(64) == b"STOPPING=1"
        finally:
            server.stop()
