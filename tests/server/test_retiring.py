"""A retiring worker (reload, server certificate renewal, stop) stops accepting, but a
client it had already accepted is served: its TLS handshake under way finishes, its
first request is answered with ``Connection: close``; idle keep-alive connections close."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.api import create_app
from appliance.authority.interfaces import IssuedCertificate
from appliance.config.connections import ConnectionSettings
from appliance.server.connections import ConnectionSlots
from appliance.server.servercert import tls_material
from appliance.server.worker import WorkerServer, _stop, uvicorn_server
from tests.api.conftest import FakeAuthority
from tests.api.pki import make_certificate

HEALTH = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


class Worker:
    """A worker's server on its own uvloop thread; ``retire`` does what SIGTERM does."""

    def __init__(self, server: WorkerServer, sock: socket.socket) -> None:
        self.server, self.address = server, sock.getsockname()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self.thread.start()
        self.wait_for(lambda: server.started)

    def _run(self, sock: socket.socket) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[sock])

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())

    def wait_for(self, condition: Callable[[], bool]) -> None:
        for _ in range(1000):
            if condition():
                return
            threading.Event().wait(0.01)
        raise AssertionError("the worker did not get there")

    def retire(self) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(_stop, [self.server])
        self.wait_for(lambda: self.server.should_exit)

    def in_handshake(self) -> bool:
        return any(acceptor.handshakes for acceptor in self.server.servers)  # type: ignore[attr-defined]


@pytest.fixture
def worker(authority: FakeAuthority) -> Iterator[Worker]:
    pki = authority.pki
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_certificate("localhost", key, pki.intermediate, pki.intermediate_key, ca=False, sans=("localhost",))
    tls = tls_material(key, IssuedCertificate(leaf, (pki.intermediate,)), [pki.root])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    running = Worker(uvicorn_server(create_app(authority), tls=tls, slots=ConnectionSlots(ConnectionSettings())),
                     sock)
    yield running
    running.server.should_exit = True
    running.thread.join(30)


@pytest.fixture
def context(authority: FakeAuthority, tmp_path: Path) -> ssl.SSLContext:
    root = tmp_path / "root.pem"
    root.write_bytes(authority.pki.root.public_bytes(serialization.Encoding.PEM))
    return ssl.create_default_context(cafile=root)


def _answer(tls: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := tls.recv(65536):
        received += chunk
    return received


def _served_then_closed(answer: bytes, worker: Worker) -> None:
    """``answer`` is a 200 with ``Connection: close``, and the worker has exited."""
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200") and b"connection: close" in head
    worker.thread.join(30)
    assert not worker.thread.is_alive()


def test_a_handshake_under_way_when_the_worker_retires_is_finished_and_served(
        worker: Worker, context: ssl.SSLContext) -> None:
    with socket.create_connection(worker.address, timeout=30) as raw:
        worker.wait_for(worker.in_handshake)  # accepted: the server waits for the ClientHello
        worker.retire()
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(HEALTH)
            answer = _answer(tls)
    _served_then_closed(answer, worker)


def test_a_new_connection_without_its_request_yet_is_served_and_an_idle_one_closes(
        worker: Worker, context: ssl.SSLContext) -> None:
    with socket.create_connection(worker.address, timeout=30) as raw_idle, \
            context.wrap_socket(raw_idle, server_hostname="localhost") as idle, \
            socket.create_connection(worker.address, timeout=30) as raw_new, \
            context.wrap_socket(raw_new, server_hostname="localhost") as new:
        idle.sendall(HEALTH)
        assert idle.recv(65536).lower().startswith(b"http/1.1 200")
        worker.retire()
        assert _answer(idle) == b""  # uvicorn closes a keep-alive connection between requests
        new.sendall(HEALTH)
        answer = _answer(new)
    _served_then_closed(answer, worker)
