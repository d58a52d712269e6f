"""``appliance serve``: a supervisor process and N uvicorn worker processes.

The supervisor binds the sockets, issues the server certificate, starts the
workers (spawned, so each opens its own database and KMS sessions) and
replaces them on SIGHUP (new ca.json) or before the certificate expires: the
new generation starts on the same sockets, then the old one drains its
in-flight requests and exits. A ca.json that fails to load is logged and the
running generation keeps serving. The renewal starts early enough for a new
generation to serve before the certificate expires, however slowly the last
ones started (``renewal_due``); a generation that fails to start is tried
again well before expiry (``retry_delay``). It also runs the retention job, which purges
expired used tokens and ACME state (``appliance.server.retention``).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from appliance.server.descriptors import raise_descriptor_limit
from appliance.server.retention import RetentionJob
from appliance.config import report_notices
from appliance.server.runtime import Runtime, load_checked_config, load_runtime, open_runtime
from appliance.server.servercert import TLSMaterial, tls_material
from appliance.server.logs import configure_logging
from appliance.server.metrics import (DatabaseCollector, MetricsServer, private_multiprocess_dir, remove_dir,
                                      worker_exited)
from appliance.server.notify import sd_notify
from appliance.server.worker import GRACEFUL_TIMEOUT, WorkerSpec, worker_main
from appliance.errors import BadRequest
from appliance.pki.clock import Clock, utc_now

log = logging.getLogger("appliance.server")
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.5
#: a renewal begins at least this many times the slowest generation start before expiry
START_MARGIN = 3
MIN_RETRY = datetime.timedelta(seconds=1)
MAX_RETRY = datetime.timedelta(seconds=60)


@dataclass(frozen=True)
class ServeOptions:
    """``appliance serve`` flags."""

    config_path: Path
    password: bytes | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    server_certificate_lifetime: datetime.timedelta = datetime.timedelta(hours=24)
    #: how long a new generation of workers may take to serve
    start_timeout: float = READY_TIMEOUT
    #: the supervisor's clock for the certificate's renewal (tests move it)
    clock: Clock = utc_now


def renewal_due(tls: TLSMaterial, start_time: datetime.timedelta) -> datetime.datetime:
    """When to replace the generation serving ``tls``: at its ``renew_at`` (2/3 of the
    lifetime), or sooner, so that a new generation that starts ``START_MARGIN`` times
    as slowly as ``start_time`` still serves before the certificate expires."""
    return min(tls.renew_at, tls.not_after - START_MARGIN * start_time)


def retry_delay(tls: TLSMaterial, now: datetime.datetime) -> datetime.timedelta:
    """How long after a failed renewal to try again: a quarter of what is left of the
    certificate's lifetime, within ``MIN_RETRY`` and ``MAX_RETRY``."""
    return min(max((tls.not_after - now) / 4, MIN_RETRY), MAX_RETRY)


def bind(address: str) -> socket.socket:
    """A listening TCP socket for ``host:port`` (an empty host binds every address)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise BadRequest(f"invalid address '{address}': expected host:port")
    host = host.strip("[]") or "::"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and host == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, int(port)))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Worker:
    process: SpawnProcess
    ready: Event


class Supervisor:
    """Owns the sockets, the server certificate and the worker generations."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.context = multiprocessing.get_context("spawn")
        self.wake = threading.Event()
        self.reload_requested = False
        self.stopping = False
        self.generation = 0
        self.clock = options.clock
        self.renewal_retry_at: datetime.datetime | None = None
        self.start_time = datetime.timedelta(0)  # the slowest generation start so far
        self.workers: list[_Worker] = []
        self.retiring: list[_Worker] = []
        self.retention: RetentionJob | None = None
        self.metrics_dir: Path | None = None
        self.metrics: MetricsServer | None = None

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (a SIGHUP while starting reloads once started)."""
        self._install_signal_handlers()
        started_at = utc_now().replace(microsecond=0)  # the CA's start for every generation (token iat)
        config = load_checked_config(self.options.config_path)
        configure_logging(config.logging)
        report_notices(config)
        self.runtime = open_runtime(config, self.options.password, started_at=started_at)
        raise_descriptor_limit(self.runtime.config.connections)
        try:
            self._start_metrics()
            self.spec = WorkerSpec(
                config_path=self.options.config_path, password=self.options.password, tls=self._issue_tls(),
                sockets=(bind(self.runtime.config.address),),
                insecure_sockets=(bind(self.runtime.config.insecure_address),)
                if self.runtime.config.insecure_address else (),
                supervisor_pid=os.getpid(), started_at=started_at,
            )
            if not self._start_generation():
                raise BadRequest("the workers failed to start: see the log above")
            log.info("serving https://%s with %d workers", self.runtime.config.address, self.options.workers)
            self.retention = RetentionJob(self.runtime.config.db, self.runtime.config.retention)
            self.retention.start()
            sd_notify("READY=1")
            self._loop()
        finally:
            sd_notify("STOPPING=1")
            self._stop_all()
            self._stop_metrics()
            if self.retention is not None:
                self.retention.stop()
            self.runtime.close()

    def _start_metrics(self) -> None:
        """``metricsAddress``: the workers' metric files in a fresh private directory, summed on /metrics."""
        address = self.runtime.config.metrics_address
        if not address:
            return
        self.metrics_dir = private_multiprocess_dir()
        self.metrics = MetricsServer(address, self.metrics_dir,
                                     DatabaseCollector(lambda: self.runtime.database, lambda: self.runtime.audit))
        self.metrics.start()
        log.info("serving metrics at http://%s:%d/metrics", address.rpartition(":")[0] or "0.0.0.0", self.metrics.port)

    def _stop_metrics(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        if self.metrics_dir is not None:
            remove_dir(self.metrics_dir)

    def _install_signal_handlers(self) -> None:
        def reload(signum: int, frame: object) -> None:
            self.reload_requested = True
            self.wake.set()

        def stop(signum: int, frame: object) -> None:
            self.stopping = True
            self.wake.set()

        signal.signal(signal.SIGHUP, reload)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _loop(self) -> None:
        while not self.stopping:
            self.wake.wait(POLL_INTERVAL)
            self.wake.clear()
            if self.stopping:
                break
            if self.reload_requested:
                self.reload_requested = False
                self._reload()
            elif self._renewal_due():
                log.info("renewing the server certificate")
                if not self._roll(self.runtime):
                    delay = retry_delay(self.spec.tls, self.clock())
                    log.warning("server certificate renewal failed; trying again in %.0f s", delay.total_seconds())
                    self.renewal_retry_at = self.clock() + delay
            self._reap()

    def _renewal_due(self) -> bool:
        now = self.clock()
        retry_at = self.renewal_retry_at
        return now >= (retry_at if retry_at is not None else renewal_due(self.spec.tls, self.start_time))

    def _issue_tls(self, runtime: Runtime | None = None) -> TLSMaterial:
        runtime = runtime or self.runtime
        self.generation += 1
        key = ec.generate_private_key(ec.SECP256R1())
        issued = runtime.authority.issue_server_certificate(key.public_key(),
                                                            self.options.server_certificate_lifetime)
        client_cas = [*runtime.authority.roots(), *runtime.authority.intermediates()]
        return tls_material(key, issued, client_cas, self.clock())

    def _reload(self) -> None:
        """SIGHUP: load the new ca.json; keep serving the old one if it fails.

        The CA's start time (tokens issued before it are refused) stays: used
        tokens are in the database, so a token issued before the reload is still
        refused if it was used. Only a new ``db`` section, which has no record of
        the tokens used so far, moves it to now (step-ca refuses such a reload)."""
        started_at = self.spec.started_at
        try:
            runtime = load_runtime(self.options.config_path, self.options.password, report=True,
                                   started_at=started_at)
        except Exception as exc:
            log.error("reload failed, still serving the previous configuration: %s", exc)
            self._audit("config.reload_failed", {"reason": getattr(exc, "message", type(exc).__name__)})
            return
        raise_descriptor_limit(runtime.config.connections)
        if (runtime.config.address, runtime.config.insecure_address, runtime.config.metrics_address) != (
            self.runtime.config.address, self.runtime.config.insecure_address, self.runtime.config.metrics_address
        ):
            log.warning("address changes take effect after a restart; keeping the current listeners")
        if runtime.config.db != self.runtime.config.db:
            log.warning("the db section changed: tokens issued before this reload are refused")
            started_at = utc_now().replace(microsecond=0)
        if self._roll(runtime, started_at):
            self.runtime.close()
            self.runtime = runtime
            configure_logging(runtime.config.logging)
            if self.retention is not None:
                self.retention.update(runtime.config.db, runtime.config.retention)
            log.info("reloaded %s", self.options.config_path)
            self._audit("config.reloaded", {"sha256": hashlib.sha256(self.options.config_path.read_bytes()).hexdigest()})
        else:
            runtime.close()
            self._audit("config.reload_failed", {"reason": "the new workers did not start"})

    def _audit(self, event: str, data: dict[str, str]) -> None:
        """A configuration change in the audit log (when it is enabled), with the file's path."""
        if self.runtime.audit is not None:
            self.runtime.audit.record(event, {"path": str(self.options.config_path), **data})

    def _roll(self, runtime: Runtime, started_at: datetime.datetime | None = None) -> bool:
        """Start a new generation with a fresh certificate (and the CA's start time,
        unchanged unless given); retire the old one once it is ready."""
        try:
            tls = self._issue_tls(runtime)
        except Exception as exc:
            log.error("cannot issue the server certificate, keeping the running workers: %s", exc)
            return False
        previous_spec, previous_workers = self.spec, self.workers
        self.spec = replace(self.spec, tls=tls, started_at=started_at or self.spec.started_at)
        if not self._start_generation():
            self.spec, self.workers = previous_spec, previous_workers
            return False
        self._retire(previous_workers)
        self._await_not_accepting(previous_workers)
        self.renewal_retry_at = None  # a new certificate: its own schedule
        return True

    def _start_generation(self) -> bool:
        """Start ``workers`` processes on the current spec; True once all are serving
        (within ``start_timeout``). Records how long they took (``start_time``)."""
        began = time.monotonic()
        started = [self._spawn() for _ in range(self.options.workers)]
        deadline = began + self.options.start_timeout
        while time.monotonic() < deadline and not all(w.ready.is_set() for w in started):
            if self.stopping or any(not w.process.is_alive() for w in started):
                break
            time.sleep(0.05)
        if all(w.ready.is_set() for w in started):
            self.workers = started
            took = datetime.timedelta(seconds=time.monotonic() - began)
            self.start_time = max(self.start_time, took)
            log.info("generation %d serving after %.1f s", self.generation, took.total_seconds())
            return True
        dead = [w.process.exitcode for w in started if not w.process.is_alive()]
        reason = f"workers exited with {dead}" if dead else f"not serving after {self.options.start_timeout:.0f} s"
        log.error("new workers failed to start (%s); keeping the running ones", reason)
        self._retire(started)
        return False

    def _spawn(self) -> _Worker:
        ready = self.context.Event()
        process = self.context.Process(target=worker_main, args=(self.spec, ready), daemon=False,
                                       name=f"appliance-worker-{self.generation}")
        process.start()
        return _Worker(process, ready)

    def _retire(self, workers: list[_Worker]) -> None:
        for worker in workers:
            if worker.process.is_alive():
                worker.process.terminate()
        self.retiring.extend(workers)

    def _await_not_accepting(self, workers: list[_Worker]) -> None:
        """Until every retired worker has stopped accepting (or exited), within
        ``start_timeout``: after a reload, no connection reaches the old configuration."""
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline and any(w.ready.is_set() and w.process.is_alive() for w in workers):
            time.sleep(0.01)

    def _reap(self) -> None:
        """Forget retired workers that exited; replace current ones that died."""
        for worker in self.retiring + self.workers:
            if not worker.process.is_alive() and self.metrics_dir is not None and worker.process.pid is not None:
                worker_exited(self.metrics_dir, worker.process.pid)
        self.retiring = [w for w in self.retiring if w.process.is_alive()]
        for index, worker in enumerate(self.workers):
            if not worker.process.is_alive() and not self.stopping:
                log.warning("worker %d exited with %s; starting another", worker.process.pid, worker.process.exitcode)
                self.workers[index] = self._spawn()

    def _stop_all(self) -> None:
        everyone = self.workers + self.retiring
        self._retire(self.workers)
        deadline = time.monotonic() + GRACEFUL_TIMEOUT + 5
        for worker in everyone:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


def serve(options: ServeOptions) -> None:
    """Run the CA until SIGTERM or SIGINT."""
    configure_logging()
    Supervisor(options).run()
