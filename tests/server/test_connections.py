"""Slow clients against a real ``appliance serve`` (ca.json ``connections``):
connections that never finish the TLS handshake or their request header are
closed by the server's deadlines while ordinary requests keep succeeding, idle
keep-alive connections are closed, and a worker never holds more connections
than its cap (the rest wait in the kernel's accept queue).

Times are measured on the client from the moment it starts to connect (so
before the server's deadline starts) to the moment the server closes the
connection: the server's clock decides, the test only bounds how long it waits
for that to happen."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from tests.e2e.harness import CA, Server, init_ca, start_server

pytestmark = pytest.mark.slow

SLOW_HEADERS = 300  # TLS done, request header never finished (100 of them trickle a byte at a time)
TRICKLERS = 100
CONCURRENT_HANDSHAKES = 16  # the slow-header clients' handshakes at a time (this process has little CPU)
NO_HANDSHAKE = 100  # TCP connected, TLS handshake never started
CLOSE_BOUND = 30.0  # how long the test waits for the server to close a connection at most
HANDSHAKE_TIMEOUT, REQUEST_TIMEOUT, IDLE_TIMEOUT = 2.0, 2.0, 1.0
DEADLINES = {"handshakeTimeout": "2s", "requestTimeout": "2s", "idleTimeout": "1s"}
EARLY = 0.2  # a close this much before the deadline would mean the deadline is wrong
PARTIAL_HEADER = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: "


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return init_ca(tmp_path_factory.mktemp("connections"))


@contextlib.contextmanager
def serving(ca: CA, connections: dict[str, Any], workers: int = 2) -> Iterator[Server]:
    """``appliance serve`` on a ca.json of its own with these ``connections`` settings."""
    instance = ca.another_instance()
    data = instance.data()
    data["connections"] = connections
    instance.write(data)
    server = start_server(instance, workers=workers)
    try:
        yield server
    finally:
        server.stop()


def client_context(ca: CA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca.root)


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection (EOF or reset); what it sent."""
    received = b""
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        pass
    return received


async def _slow_header(port: int, context: ssl.SSLContext, trickle: bool,
                       handshakes: asyncio.Semaphore) -> tuple[float, bytes] | None:
    """A TLS connection that starts a request and never finishes its header; None
    if the server closed it during the handshake (its deadline passed while this
    CPU-starved client was still at it)."""
    async with handshakes:
        ready = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                           server_hostname="localhost")
        except (ConnectionResetError, ssl.SSLError):
            return None
    writer.write(PARTIAL_HEADER)
    if trickle:  # the attacker's pace, not a wait for a result: a byte every 0.2 s must not extend the deadline
        async def dribble() -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError, RuntimeError):
                while not writer.is_closing() and not reader.at_eof():
                    writer.write(b"a")
                    await asyncio.sleep(0.2)
        dribbler = asyncio.create_task(dribble())
    received = await asyncio.wait_for(_until_closed(reader), CLOSE_BOUND)
    closed = time.monotonic()
    if trickle:
        dribbler.cancel()
    writer.close()
    return closed - ready, received


async def _no_handshake(port: int) -> tuple[float, bytes]:
    """A TCP connection to the TLS port that never sends a ClientHello."""
    ready = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = await asyncio.wait_for(_until_closed(reader), CLOSE_BOUND)
    closed = time.monotonic()
    writer.close()
    return closed - ready, received


@dataclass
class Ordinary:
    """Ordinary clients: GET /version on a new connection each, until stopped."""

    ca: CA
    results: list[tuple[float, float, int | str]]
    stop: threading.Event

    def run(self) -> None:
        context = client_context(self.ca)
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.ca.url, verify=context, timeout=30, limits=limits) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    status: int | str = client.get("/version").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.results.append((started, time.monotonic(), status))


def test_slow_clients_are_closed_by_the_deadlines_while_ordinary_requests_succeed(ca: CA) -> None:
    with serving(ca, {**DEADLINES, "maxConnectionsPerWorker": 1024}) as server:
        ordinary = Ordinary(server.ca, [], threading.Event())
        threads = [threading.Thread(target=ordinary.run) for _ in range(2)]
        for thread in threads:
            thread.start()

        async def attack() -> tuple[list[tuple[float, bytes] | None], list[tuple[float, bytes]], float, float]:
            context, limit = client_context(server.ca), asyncio.Semaphore(CONCURRENT_HANDSHAKES)
            started = time.monotonic()
            handshakes = [asyncio.create_task(_no_handshake(server.ca.port)) for _ in range(NO_HANDSHAKE)]
            headers = [asyncio.create_task(_slow_header(server.ca.port, context, i < TRICKLERS, limit))
                       for i in range(SLOW_HEADERS)]
            return (await asyncio.gather(*headers), await asyncio.gather(*handshakes), started, time.monotonic())

        try:
            slow_headers, no_handshakes, attack_started, attack_ended = asyncio.run(attack())
        finally:
            ordinary.stop.set()
            for thread in threads:
                thread.join(60)
        log = server.log()

    cut_short = sum(1 for result in slow_headers if result is None)
    headers_sent = [result for result in slow_headers if result is not None]
    header_times = [elapsed for elapsed, _ in headers_sent]
    handshake_times = [elapsed for elapsed, _ in no_handshakes]
    during = [r for r in ordinary.results if r[0] >= attack_started and r[1] <= attack_ended]
    print(f"\n{len(headers_sent)} slow-header connections (and {cut_short} closed during their handshake) closed after median {statistics.median(header_times):.2f} s, "
          f"max {max(header_times):.2f} s (requestTimeout {REQUEST_TIMEOUT} s); "
          f"{len(no_handshakes)} no-handshake connections closed after median "
          f"{statistics.median(handshake_times):.2f} s, max {max(handshake_times):.2f} s "
          f"(handshakeTimeout {HANDSHAKE_TIMEOUT} s); ordinary requests: {len(ordinary.results)} "
          f"({len(during)} during the attack), "
          f"{sum(1 for r in ordinary.results if r[2] == 200)} succeeded, "
          f"{sum(1 for r in ordinary.results if r[2] != 200)} failed")
    # every slow connection was closed by the server, without an answer, not before its deadline
    assert all(received == b"" for _, received in headers_sent + no_handshakes)
    assert len(headers_sent) >= SLOW_HEADERS * 0.9
    assert min(header_times) >= REQUEST_TIMEOUT - EARLY
    assert min(handshake_times) >= HANDSHAKE_TIMEOUT - EARLY
    # ordinary requests went on meanwhile, and every one succeeded
    assert len(during) >= 10
    assert {status for _, _, status in ordinary.results} == {200}
    assert "Traceback" not in log


def _tcp_table(port: int) -> tuple[int, int]:
    """(connections a worker has accepted, connections waiting in the accept queue)
    on ``127.0.0.1:port``, from /proc/net/tcp: an accepted socket has an inode,
    one still in the queue has none; the listener's rx_queue is the queue's length."""
    local = f"0100007F:{port:04X}"
    accepted = queued = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] != local:
            continue
        if fields[3] == "0A":  # LISTEN
            queued = int(fields[4].split(":")[1], 16)
        elif fields[3] == "01" and fields[9] != "0":  # ESTABLISHED, owned by a process
            accepted += 1
    return accepted, queued


def _poll_table(port: int, want: tuple[int, int] | Callable[[tuple[int, int]], bool],
                seen: list[tuple[int, int]]) -> None:
    """Sample the table until it shows ``want`` (or satisfies it; bounded); every sample goes to ``seen``."""
    deadline = time.monotonic() + CLOSE_BOUND
    while time.monotonic() < deadline:
        seen.append(_tcp_table(port))
        if (want(seen[-1]) if callable(want) else seen[-1] == want):
            return
        time.sleep(0.02)
    raise AssertionError(f"expected (accepted, queued) {want}, last seen {seen[-1]}")


def test_a_worker_holds_no_more_connections_than_its_cap(ca: CA) -> None:
    cap, extra = 5, 3
    with serving(ca, {"handshakeTimeout": "60s", "requestTimeout": "60s", "maxConnectionsPerWorker": cap},
                 workers=1) as server:
        port, seen = server.ca.port, []
        _poll_table(port, (0, 0), [])  # the readiness checks' connections are gone
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(cap + extra)]
        try:
            _poll_table(port, (cap, extra), seen)  # the cap is held: the rest wait in the kernel's queue
            held.pop(0).close()  # a slot frees: exactly one waiting connection is taken
            _poll_table(port, (cap, extra - 1), seen)
            assert max(accepted for accepted, _ in seen) == cap
            # and the waiting ones are served once slots free up
            for sock in held[:extra]:
                sock.close()
            with server.ca.client() as client:
                assert client.get("/health").status_code == 200
        finally:
            for sock in held:
                sock.close()
    print(f"\ncap {cap}: {cap + extra} connections -> at most {max(a for a, _ in seen)} accepted, "
          f"{extra} waited in the accept queue")


def test_idle_keep_alive_connections_are_closed(ca: CA) -> None:
    with serving(ca, {**DEADLINES, "requestTimeout": "30s"}, workers=1) as server:
        async def one_request_then_idle() -> tuple[float, bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.ca.port, ssl=client_context(server.ca),
                                                           server_hostname="localhost")
            writer.write(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            body = await reader.readexactly(length)
            answered = time.monotonic()
            assert head.startswith(b"HTTP/1.1 200") and b"ok" in body
            rest = await asyncio.wait_for(_until_closed(reader), CLOSE_BOUND)
            writer.close()
            return time.monotonic() - answered, rest

        idle, rest = asyncio.run(one_request_then_idle())
    print(f"\nidle keep-alive connection closed {idle:.2f} s after its response (idleTimeout {IDLE_TIMEOUT} s)")
    assert rest == b""
    # closed by the idle timeout (not uvicorn's default of 5 s, nor the 30 s request deadline)
    assert IDLE_TIMEOUT - EARLY <= idle < 4


def test_slow_clients_beyond_the_cap_only_delay_ordinary_requests(ca: CA) -> None:
    """Five times more stalled handshakes than the workers have slots: they fill
    every slot and the accept queue, yet the handshake deadline keeps the queue
    moving, so ordinary requests wait their turn and succeed."""
    cap, workers, stalled = 20, 2, 200
    with serving(ca, {"handshakeTimeout": "1s", "requestTimeout": "1s", "maxConnectionsPerWorker": cap},
                 workers=workers) as server:
        ordinary = Ordinary(server.ca, [], threading.Event())

        async def attack() -> list[tuple[float, bytes]]:
            return await asyncio.gather(*(_no_handshake(server.ca.port) for _ in range(stalled)))

        async def attack_then_ordinary() -> list[tuple[float, bytes]]:
            stalling = asyncio.create_task(attack())
            seen: list[tuple[int, int]] = []

            def full(table: tuple[int, int]) -> bool:  # every slot taken, more waiting
                return table[0] == workers * cap and table[1] > 0

            await asyncio.to_thread(_poll_table, server.ca.port, full, seen)
            thread = threading.Thread(target=ordinary.run)  # queued behind the stalled ones
            thread.start()
            closed = await stalling
            ordinary.stop.set()
            await asyncio.to_thread(thread.join, 60)
            return closed

        closed = asyncio.run(attack_then_ordinary())
    waits = [end - start for start, end, _ in ordinary.results]
    print(f"\n{stalled} stalled handshakes against {workers} workers x cap {cap}: all closed after at most "
          f"{max(t for t, _ in closed):.2f} s; ordinary requests {len(ordinary.results)}, "
          f"{sum(1 for r in ordinary.results if r[2] == 200)} succeeded, the first waited {waits[0]:.2f} s")
    assert all(received == b"" for _, received in closed)
    assert ordinary.results and {status for _, _, status in ordinary.results} == {200}
