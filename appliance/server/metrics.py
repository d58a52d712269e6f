"""``metricsAddress``: Prometheus's ``/metrics``, served by the supervisor.

Workers record into files in a private ``PROMETHEUS_MULTIPROC_DIR`` (a fresh
``mkdtemp`` made before the first worker starts, removed at exit); the supervisor
sums them (``prometheus_client``'s multiprocess collector) and adds gauges read from
the database at each scrape: certificates expiring within 24 h and 7 d, the
published CRL's age, the audit chain's length and its last checkpoint."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from appliance.audit import AuditLog
from appliance.db.inventory import certificates_expiring
from appliance.db.sql import SQLDatabase
from appliance.errors import BadRequest
from appliance.pki.clock import Clock, utc_now

ENV = "PROMETHEUS_MULTIPROC_DIR"
EXPIRY_WINDOWS = (("24h", datetime.timedelta(hours=24)), ("7d", datetime.timedelta(days=7)))


def private_multiprocess_dir() -> Path:
    """A new private directory (mode 0700) for the workers' metric files, set in the
    environment the workers inherit."""
    path = Path(tempfile.mkdtemp(prefix="appliance-metrics-"))
    os.environ[ENV] = str(path)
    return path


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape (``appliance_inventory_up`` 0 if it cannot be read)."""

    def __init__(self, database: Callable[[], SQLDatabase], audit: Callable[[], AuditLog | None],
                 now: Clock = utc_now) -> None:
        self._database = database
        self._audit = audit
        self._now = now

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("appliance_inventory_up", "Whether the database answered this scrape's queries.")
        try:
            found = list(self._read())
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found

    def _read(self) -> Iterable[Metric]:
        database, now = self._database(), self._now()
        expiring = GaugeMetricFamily("appliance_certificates_expiring",
                                     "Certificates valid and not revoked that expire within the window.",
                                     labels=["within"])
        with database.transaction() as conn:
            for label, window in EXPIRY_WINDOWS:
                expiring.add_metric([label], certificates_expiring(conn, now, window))
        yield expiring
        crl = database.crl_state()
        if crl is not None:
            yield GaugeMetricFamily("appliance_crl_this_update_timestamp_seconds",
                                    "thisUpdate of the published CRL (Unix time).", value=crl.this_update.timestamp())
            yield GaugeMetricFamily("appliance_crl_number", "Number of the published CRL.", value=crl.number)
        audit = self._audit()
        if audit is not None:
            seq, _ = audit.head()
            yield GaugeMetricFamily("appliance_audit_chain_length", "Records in the audit chain.", value=seq)
            last = audit.last_checkpoint()
            if last is not None:
                yield GaugeMetricFamily("appliance_audit_last_checkpoint_timestamp_seconds",
                                        "When the last audit checkpoint was signed (Unix time).",
                                        value=datetime.datetime.fromisoformat(last.at).timestamp())


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (Prometheus scrapes every few seconds)."""


class MetricsServer:
    """``/metrics`` on ``address`` (host:port) in a thread; 404 for any other path."""

    def __init__(self, address: str, directory: Path, collector: Collector) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise BadRequest(f"invalid metricsAddress '{address}': expected host:port")
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))
        registry.register(collector)
        metrics_app = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/metrics":
                return metrics_app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: metrics are at /metrics\n"]

        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET

        self._server = make_server(host.strip("[]") or "0.0.0.0", int(port), app, Server,
                                   handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def worker_exited(directory: Path, pid: int) -> None:
    """Forget a dead worker's live gauges (its counters and histograms stay in the sums)."""
    multiprocess.mark_process_dead(pid, str(directory))


def remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
