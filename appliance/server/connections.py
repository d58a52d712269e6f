"""What one worker does so that slow clients cannot starve it (ca.json ``connections``).

- ``Acceptor`` accepts on a listening socket shared with the other workers, and
  only while the worker holds fewer than ``maxConnectionsPerWorker`` connections:
  at the cap it stops accepting, so new connections wait in the kernel's accept
  queue for whichever worker frees a slot first (once that queue is full the
  kernel drops new attempts and clients retry), costing this worker nothing.
- the TLS handshake must finish within ``handshakeTimeout`` (uvloop's SSL protocol
  closes the connection otherwise);
- ``DeadlineProtocol`` closes a connection whose request (headers and body) is not
  complete ``requestTimeout`` after the handshake or after the request's first byte
  (slowloris), and, through uvicorn's keep-alive timer, one that stays idle
  ``idleTimeout`` between requests.

When a worker retires (reload, server certificate renewal, stop) it stops accepting;
a connection it had accepted whose TLS handshake is under way, or whose first request
has not arrived, is served that request (``Connection: close``), so no client that
reached the retiring worker sees its connection cut; idle keep-alive connections
close at once, as in uvicorn.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from typing import Any, Callable, cast

from appliance.config.connections import ConnectionSettings
from appliance.server.coalesce import CoalescingTransport
from appliance.server.tls import TLSHttpToolsProtocol

log = logging.getLogger("appliance.server")
ACCEPT_BATCH = 64  # connections accepted per wake-up, so one listener cannot hog the loop
OUT_OF_DESCRIPTORS_PAUSE = 0.5  # seconds without accepting after EMFILE/ENFILE
CAP_WARNING_INTERVAL = 60.0  # seconds
#: Seconds a retiring worker gives the TLS handshakes under way when it stopped accepting.
SHUTDOWN_HANDSHAKE_GRACE = 2.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class ConnectionSlots:
    """The connections one worker holds, shared by its listeners; they pause while it is full."""

    def __init__(self, settings: ConnectionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.used = 0
        self.acceptors: list[Acceptor] = []
        self.warned_at: float | None = None

    @property
    def full(self) -> bool:
        return self.used >= self.settings.max_connections_per_worker

    def take(self) -> Callable[[], None]:
        """Count one connection; the function returned gives the slot back (once)."""
        self.used += 1
        if self.full:
            self._warn()
            for acceptor in self.acceptors:
                acceptor.pause()
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            was_full = self.full
            self.used -= 1
            if was_full and not self.full:
                for acceptor in self.acceptors:
                    acceptor.resume()

        return release

    def _warn(self) -> None:
        """Say that the cap is reached, once a minute at most (a flood must not flood the log)."""
        now = self.clock()
        if self.warned_at is None or now - self.warned_at >= CAP_WARNING_INTERVAL:
            self.warned_at = now
            log.warning("this worker holds %d connections (connections.maxConnectionsPerWorker): "
                        "new ones wait until one closes", self.used)


ProtocolFactory = Callable[[Callable[[], None]], asyncio.Protocol]


class Acceptor:
    """Accepts connections on one listening socket within the worker's slots and
    hands each to the event loop's transport (TLS with a handshake deadline when
    ``ssl_context`` is given). Duck-types the parts of ``asyncio.Server`` that
    uvicorn's shutdown uses (``close``, ``wait_closed``)."""

    def __init__(self, sock: socket.socket, protocol_factory: ProtocolFactory, ssl_context: ssl.SSLContext | None,
                 slots: ConnectionSlots) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.ssl_context = ssl_context
        self.slots = slots
        self.reading = False
        self.closed = False
        self.handshakes: set[asyncio.Task[Any]] = set()
        sock.setblocking(False)
        slots.acceptors.append(self)
        if not slots.full:
            self.resume()

    def pause(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.sock.fileno())
            self.reading = False

    def resume(self) -> None:
        if not self.reading and not self.closed and not self.slots.full:
            self.loop.add_reader(self.sock.fileno(), self._accept)
            self.reading = True

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.slots.full or self.closed:
                return
            try:
                connection, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                log.error("cannot accept a connection (%s): raise the descriptor limit (README, Connections)",
                          exc.strerror)
                self.pause()
                self.loop.call_later(OUT_OF_DESCRIPTORS_PAUSE, self.resume)
                return
            self._start(connection, self.slots.take())

    def _start(self, connection: socket.socket, release: Callable[[], None]) -> None:
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = self.loop.create_task(self._connect(connection, release))
        self.handshakes.add(task)
        task.add_done_callback(self.handshakes.discard)

    async def _connect(self, connection: socket.socket, release: Callable[[], None]) -> None:
        """Wait for the handshake; on failure or timeout the loop has closed the socket.
        The TLS close exchange gets the handshake's deadline too (uvloop waits 30 s)."""
        timeout = self.slots.settings.handshake_timeout.total_seconds() if self.ssl_context else None
        try:
            await self.loop.connect_accepted_socket(lambda: self.protocol_factory(release), connection,
                                                    ssl=self.ssl_context, ssl_handshake_timeout=timeout,
                                                    ssl_shutdown_timeout=timeout)
        except asyncio.CancelledError:
            release()
            raise
        except Exception as exc:  # a failed or timed-out handshake: the client's business
            release()
            log.debug("TLS handshake failed: %s", exc)

    def close(self) -> None:
        """Stop accepting (the socket stays open, for the next generation of workers);
        handshakes under way go on (:meth:`wait_closed`)."""
        self.pause()
        self.closed = True
        if self in self.slots.acceptors:
            self.slots.acceptors.remove(self)

    async def wait_closed(self, grace: float = SHUTDOWN_HANDSHAKE_GRACE) -> None:
        """Give the handshakes under way ``grace`` seconds to finish, then drop the rest
        (a client that stalls its handshake does not hold the worker's exit)."""
        if self.handshakes:
            await asyncio.wait(set(self.handshakes), timeout=grace)
        for task in self.handshakes:
            task.cancel()


class DeadlineProtocol(TLSHttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request to arrive
    complete; gives its slot back when the connection ends. Its transport sends each
    response in one write (``appliance.server.coalesce``). Once its worker is
    ``retiring``, a request's response closes the connection."""

    def __init__(self, *, release: Callable[[], None], request_timeout: float, retiring: Callable[[], bool],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.request_timeout = request_timeout
        self.retiring = retiring
        self.request_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.timeout_keep_alive_task is not None:  # the first byte of the next request on an idle connection
            self._arm()
        super().data_received(data)

    def shutdown(self) -> None:
        """uvicorn's, except for a connection whose first request has not arrived (just
        made, or its head still coming): that request is served, with ``Connection:
        close``, or the request deadline closes the connection."""
        if self.cycle is not None:
            super().shutdown()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.retiring() and self.cycle is not None:  # a request the worker's shutdown did not see coming
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.release()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.request_deadline = self.loop.call_later(self.request_timeout, self._request_too_slow)

    def _disarm(self) -> None:
        if self.request_deadline is not None:
            self.request_deadline.cancel()
            self.request_deadline = None

    def _request_too_slow(self) -> None:
        self.request_deadline = None
        self.transport.abort()  # no graceful close for a client that is too slow
