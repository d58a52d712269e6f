"""``pebble-challtestsrv`` (Debian's ``pebble``): an independent authoritative DNS
server for the tests. A and AAAA queries for any name get 127.0.0.1 (no AAAA),
TXT records are set and cleared through its HTTP management API, which the
clients' DNS hooks (``hook.py``) call."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import httpx

from tests.e2e.harness import free_port

BINARY = "pebble-challtestsrv"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass
class ChallTestSrv:
    """A running challenge test server: DNS (UDP and TCP) and its management API, on loopback."""

    process: subprocess.Popen[bytes]
    dns_port: int
    management_port: int
    log_file: Path

    @property
    def resolver(self) -> str:
        """``host:port`` of the DNS server."""
        return f"127.0.0.1:{self.dns_port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def set_txt(self, host: str, value: str) -> None:
        self._post("/set-txt", {"host": fqdn(host), "value": value})

    def clear_txt(self, host: str) -> None:
        self._post("/clear-txt", {"host": fqdn(host)})

    def add_a(self, host: str, address: str) -> None:
        """Answer A queries for ``host`` with ``address`` instead of the default."""
        self._post("/add-a", {"host": fqdn(host), "addresses": [address]})

    def txt(self, host: str) -> list[str]:
        """The TXT values served for ``host`` (asked over DNS, as a validator does)."""
        response = dns.query.udp(dns.message.make_query(fqdn(host), dns.rdatatype.TXT), "127.0.0.1",
                                 port=self.dns_port, timeout=2)
        return [b"".join(r.strings).decode() for rrset in response.answer for r in rrset]

    def _post(self, path: str, body: dict[str, str]) -> None:
        httpx.post(self.management_url + path, json=body, timeout=5).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def start_challtestsrv(directory: Path) -> ChallTestSrv:
    """Start the server on free loopback ports (DNS only: the clients answer the other challenges)."""
    if shutil.which(BINARY) is None:
        raise RuntimeError(f"{BINARY} is missing: run scripts/install.sh --test (Debian package pebble)")
    dns_port, management_port = free_port(), free_port()
    log_file = directory / "challtestsrv.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [BINARY, "-dns01", f"127.0.0.1:{dns_port}", "-management", f"127.0.0.1:{management_port}",
             "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = ChallTestSrv(process, dns_port, management_port, log_file)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{BINARY} exited:\n{log_file.read_text()}")
        try:
            server.clear_txt("ready.test")
            server.txt("ready.test")
            return server
        except (httpx.HTTPError, OSError, dns.exception.Timeout):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{BINARY} did not start:\n{log_file.read_text()}")
