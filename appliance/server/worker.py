"""One worker process: its own runtime (database, KMS session), one event loop,
uvicorn serving the HTTPS API (and the plain-HTTP CRL) on inherited sockets."""

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
from appliance.server.runtime import Runtime, load_runtime
from appliance.server.servercert import TLSFiles
from appliance.server.tls import TLSHttpToolsProtocol, server_ssl_context

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
    tls: TLSFiles
    sockets: tuple[socket.socket, ...]
    insecure_sockets: tuple[socket.socket, ...]
    supervisor_pid: int
    started_at: datetime.datetime


def configure_logging() -> None:
    """Plain lines on stderr; access-log lines are already formatted (text or JSON).
    httpx (ACME http-01 validation) logs every request at INFO, with the challenge
    token in its URL: only its warnings are kept."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    access = logging.StreamHandler()
    access.setFormatter(logging.Formatter("%(message)s"))
    access_logger = logging.getLogger("appliance.access")
    access_logger.handlers[:] = [access]
    access_logger.propagate = False


class WorkerServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the worker."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_server(app: ASGIApp, *, tls: TLSFiles | None) -> WorkerServer:
    """A server for ``app``: HTTPS with our TLS context and protocol when ``tls`` is given."""

    def ssl_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        assert tls is not None
        return server_ssl_context(tls.cert, tls.key, tls.key_password, tls.client_cas)

    config = uvicorn.Config(
        app, http=TLSHttpToolsProtocol, lifespan="off", log_config=None, access_log=False, server_header=False,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT, ssl_context_factory=ssl_context if tls else None,
    )
    return WorkerServer(config)


def _stop(servers: list[WorkerServer]) -> None:
    """Graceful shutdown: stop accepting now (uvicorn would at its next 0.1 s tick,
    while a new generation already serves the new configuration on the same
    sockets), finish in-flight requests."""
    for server in servers:
        for listener in server.servers:
            listener.close()
        server.should_exit = True


async def _exit_with_supervisor(supervisor_pid: int, servers: list[WorkerServer]) -> None:
    """Shut down if the supervisor disappears (no orphaned workers)."""
    while os.getppid() == supervisor_pid:
        await asyncio.sleep(SUPERVISOR_CHECK_INTERVAL)
    log.warning("the supervisor exited; shutting down")
    _stop(servers)


async def _serve(spec: WorkerSpec, runtime: Runtime, ready: Event) -> None:
    app = create_app(runtime.authority, runtime.settings, runtime.acme)
    listeners = [(uvicorn_server(app, tls=spec.tls), spec.sockets)]
    if spec.insecure_sockets:
        insecure = create_insecure_app(runtime.authority, runtime.settings)
        listeners.append((uvicorn_server(insecure, tls=None), spec.insecure_sockets))
    servers = [server for server, _ in listeners]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, servers)
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
    runtime = load_runtime(spec.config_path, spec.password, started_at=spec.started_at)
    try:
        # Webhooks see the CA's own TLS certificate as its client certificate, as in step-ca.
        runtime.authority.webhook_client = WebhookClient(
            client_cert=(str(spec.tls.cert), str(spec.tls.key), spec.tls.key_password))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # uvloop: C event loop and TLS
            runner.run(_serve(spec, runtime, ready))
    finally:
        runtime.close()
