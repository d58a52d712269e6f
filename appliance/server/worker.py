"""One worker process: its own runtime (database, KMS session), one event loop,
uvicorn serving the HTTPS API (and the plain-HTTP CRL) on inherited sockets,
within ca.json's ``connections`` deadlines and cap (``appliance.server.connections``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import signal
import socket
import ssl
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Callable, Iterator

import uvicorn
import uvloop
from starlette.types import ASGIApp

from appliance.api.app import create_app, create_insecure_app
from appliance.provisioner.webhooks import WebhookClient
from appliance.config.tls import TlsOptions
from appliance.server.connections import Acceptor, ConnectionSlots, DeadlineProtocol
from appliance.server.logs import configure_logging
from appliance.server.runtime import Runtime, load_checked_config, open_runtime
from appliance.server.servercert import TLSMaterial, memory_files
from appliance.server.tls import server_ssl_context

log = logging.getLogger("appliance.server")
GRACEFUL_TIMEOUT = 30
SUPERVISOR_CHECK_INTERVAL = 0.5


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a spawned worker gets (pickled): no open resources but sockets.
    ``started_at`` is when the CA started (``appliance serve``, not the worker):
    tokens issued before it are refused."""

    config_path: Path
    password: bytes | None
    tls: TLSMaterial
    sockets: tuple[socket.socket, ...]
    insecure_sockets: tuple[socket.socket, ...]
    supervisor_pid: int
    started_at: datetime.datetime


class WorkerServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the worker and accepts
    through ``Acceptor`` (handshake deadline, per-worker cap) with ``DeadlineProtocol``."""

    def __init__(self, config: uvicorn.Config, slots: ConnectionSlots) -> None:
        super().__init__(config)
        self.slots = slots

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup for inherited sockets, accepting through our acceptors."""
        config, request_timeout = self.config, self.slots.settings.request_timeout.total_seconds()

        def protocol(release: Callable[[], None]) -> DeadlineProtocol:
            return DeadlineProtocol(config=config, server_state=self.server_state, app_state={},
                                    release=release, request_timeout=request_timeout,
                                    retiring=lambda: self.should_exit)

        for sock in sockets or ():
            sock.listen(config.backlog)  # as loop.create_server(sock=...) does
        # duck-typed: uvicorn's shutdown only calls close() and wait_closed()
        self.servers = [Acceptor(sock, protocol, config.ssl, self.slots)  # type: ignore[misc]
                        for sock in sockets or ()]
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """The handshakes under way when accepting stopped finish first (``Acceptor.wait_closed``),
        then uvicorn's graceful shutdown serves the connections they made with the others."""
        for acceptor in self.servers:
            acceptor.close()
        await asyncio.gather(*(acceptor.wait_closed() for acceptor in self.servers))
        await super().shutdown(sockets)


def uvicorn_server(app: ASGIApp, *, tls: TLSMaterial | None, slots: ConnectionSlots,
                   tls_options: TlsOptions | None = None) -> WorkerServer:
    """A server for ``app``: HTTPS with our TLS context (ca.json's ``tls_options``,
    default step-ca's) and protocol when ``tls`` is given."""

    def ssl_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        assert tls is not None
        with memory_files(tls.cert_pem, tls.key_pem, tls.client_cas_pem) as (cert, key, client_cas):
            return server_ssl_context(cert, key, tls.key_password, client_cas, tls_options)

    config = uvicorn.Config(
        app, lifespan="off", log_config=None, access_log=False, server_header=False,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT, ssl_context_factory=ssl_context if tls else None,
        timeout_keep_alive=slots.settings.idle_timeout.total_seconds(),  # type: ignore[arg-type]  # a float works
    )
    return WorkerServer(config, slots)


def _stop(servers: list[WorkerServer], ready: Event | None = None) -> None:
    """Graceful shutdown: stop accepting now (uvicorn would at its next 0.1 s tick,
    while a new generation already serves the new configuration on the same
    sockets), finish in-flight requests. ``ready`` is cleared once nothing is
    accepted any more: the supervisor waits for it before it reports a reload."""
    for server in servers:
        for listener in server.servers:
            listener.close()
        server.should_exit = True
    if ready is not None:
        ready.clear()


async def _exit_with_supervisor(supervisor_pid: int, servers: list[WorkerServer]) -> None:
    """Shut down if the supervisor disappears (no orphaned workers)."""
    while os.getppid() == supervisor_pid:
        await asyncio.sleep(SUPERVISOR_CHECK_INTERVAL)
    log.warning("the supervisor exited; shutting down")
    _stop(servers)


async def _serve(spec: WorkerSpec, runtime: Runtime, ready: Event) -> None:
    app = create_app(runtime.authority, runtime.settings, runtime.acme, runtime.scep, runtime.admin)
    slots = ConnectionSlots(runtime.config.connections)  # the cap counts both listeners
    listeners = [(uvicorn_server(app, tls=spec.tls, slots=slots, tls_options=runtime.config.tls_options),
                  spec.sockets)]
    if spec.insecure_sockets:
        insecure = create_insecure_app(runtime.authority, runtime.settings, runtime.scep)
        listeners.append((uvicorn_server(insecure, tls=None, slots=slots), spec.insecure_sockets))
    servers = [server for server, _ in listeners]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, servers, ready)
    tasks = [asyncio.create_task(server.serve(sockets=list(sockets))) for server, sockets in listeners]
    while not all(server.started for server in servers) and not any(task.done() for task in tasks):
        await asyncio.sleep(0.01)
    if all(server.started for server in servers):
        ready.set()
    watchdog = asyncio.create_task(_exit_with_supervisor(spec.supervisor_pid, servers))
    await asyncio.gather(*tasks)
    watchdog.cancel()


def worker_main(spec: WorkerSpec, ready: Event) -> None:
    """Entry point of a spawned worker; ``ready`` is set once every listener serves."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads are the supervisor's business
    configure_logging()
    config = load_checked_config(spec.config_path)
    configure_logging(config.logging)
    runtime = open_runtime(config, spec.password, started_at=spec.started_at)
    try:
        # Webhooks see the CA's own TLS certificate as its client certificate, as in step-ca.
        with memory_files(spec.tls.cert_pem, spec.tls.key_pem) as (cert, key):  # read once, at construction
            runtime.authority.webhook_client = WebhookClient(client_cert=(str(cert), str(key), spec.tls.key_password))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # uvloop: C event loop and TLS
            runner.run(_serve(spec, runtime, ready))
    finally:
        runtime.close()
