"""ACME throughput: full orders per second with N concurrent accounts, on loopback.

    .venv/bin/python benchmarks/acme.py [--seconds 10] [--accounts 1,4,16] [--workers N] [--lego 10]

A real ``appliance serve`` (``--workers`` processes, SQLite, softkms) with an ACME
provisioner whose validation resolves names through pebble-challtestsrv (every
name -> 127.0.0.1) and connects to the benchmark's http-01 responder.

A full order is: new-order, the authorization, the http-01 challenge answered
and validated by the CA, finalize, polling until valid, the certificate chain
downloaded and parsed. Each account is a thread with its own keep-alive HTTPS
connection, driven by the tests' ACME client (``tests/acme/client.py``,
jwcrypto); accounts are registered and CSRs made before the clock starts. Rows:
orders per second, p50/p99 order latency, the CPU the server's processes used
and the CPU the benchmark process itself used (client-side signing and HTTP),
in shares of one core: what bounds a row.

Then the reference figure: 10 sequential ``lego run`` orders (http-01, lego's
own responder), after a first order that registers lego's account; the same 10
sequential orders with the benchmark's client.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from tests.acme.client import AcmeClient  # noqa: E402
from tests.acme.servers import HttpServer  # noqa: E402
from tests.e2e.acme.challtestsrv import start_challtestsrv  # noqa: E402
from tests.e2e.acme.clients import HTTP_01, Endpoint, Lego  # noqa: E402
from tests.e2e.acme.harness import add_acme_provisioner  # noqa: E402
from tests.e2e.harness import CA, Server, free_port, init_ca, start_server  # noqa: E402

POLL_TIMEOUT = 30.0
LOG_TAIL = 40
#: httpx writes a request's headers and body separately: without TCP_NODELAY, Nagle's
#: algorithm holds the body until the server's delayed ACK (40 ms per request).
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


@dataclass
class Account:
    """One benchmark account: its HTTPS connection, ACME client and prepared CSRs."""

    client: AcmeClient
    responder: HttpServer
    name_prefix: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def order(self, number: int) -> None:
        """One full order for ``<number>.<prefix>.bench.test``; raises if any step fails."""
        name = f"o{number}.{self.name_prefix}.bench.test"
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
               .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
        start = time.perf_counter()
        created = self.client.new_order(name)
        _expect(created, 201)
        order_url = created.headers["Location"]
        for authorization_url in created.json()["authorizations"]:
            authorization = self.client.post(authorization_url).json()
            (challenge,) = [c for c in authorization["challenges"] if c["type"] == HTTP_01]
            self.responder.tokens[challenge["token"]] = self.client.key_authorization(challenge["token"])
            _expect(self.client.post(challenge["url"], {}), 200)
        order = self.client.poll(order_url, done=("ready", "invalid"), timeout=POLL_TIMEOUT)
        if order["status"] != "ready":
            raise RuntimeError(f"order {order_url} is {order['status']}: {order.get('error')}")
        _expect(self.client.finalize(order, csr), 200)
        order = self.client.poll(order_url, done=("valid", "invalid"), timeout=POLL_TIMEOUT)
        if order["status"] != "valid":
            raise RuntimeError(f"order {order_url} is {order['status']}: {order.get('error')}")
        download = self.client.post(order["certificate"])
        _expect(download, 200)
        chain = x509.load_pem_x509_certificates(download.content)
        san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if len(chain) != 2 or san.get_values_for_type(x509.DNSName) != [name]:
            raise RuntimeError(f"unexpected certificate chain for {name}")
        self.latencies.append(time.perf_counter() - start)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")


def _accounts(ca: CA, directory: str, responder: HttpServer, count: int,
              stack: contextlib.ExitStack) -> list[Account]:
    accounts = []
    for index in range(count):
        transport = httpx.HTTPTransport(verify=str(ca.root), socket_options=NODELAY)
        http = stack.enter_context(httpx.Client(transport=transport, timeout=POLL_TIMEOUT))
        client = AcmeClient(http, directory)
        _expect(client.register(), 201)
        accounts.append(Account(client, responder, f"n{count}a{index}-{os.getpid()}"))
    return accounts


def run_concurrent(accounts: list[Account], seconds: float) -> tuple[float, float]:
    """Every account orders in a loop for ``seconds``; (elapsed, client CPU seconds).
    A failed order is recorded in its account's ``errors`` and the account goes on."""
    deadline = time.perf_counter() + seconds

    def loop(account: Account) -> None:
        number = 0
        while time.perf_counter() < deadline:
            try:
                account.order(number)
            except Exception as exc:  # noqa: BLE001 - counted and reported with the row
                account.errors.append(f"{type(exc).__name__}: {exc}")
            number += 1

    threads = [threading.Thread(target=loop, args=(a,)) for a in accounts]
    cpu, start = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, time.process_time() - cpu


def server_cpu_seconds(server: Server) -> float:
    """CPU time (user + system) of the supervisor and workers: every process in its group (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended
            continue
        if int(fields[2]) == server.process.pid:  # pgrp: the supervisor leads its own group
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(fraction * 100) - 1] if len(values) > 1 \
        else values[0]


def _rows(server: Server, directory: str, responder: HttpServer, counts: list[int], seconds: float) -> None:
    print(f"{'accounts':>8} {'orders':>7} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU':>11} "
          f"{'client CPU':>11} {'failed':>7}")
    errors: dict[str, int] = {}
    for count in counts:
        with contextlib.ExitStack() as connections:
            accounts = _accounts(server.ca, directory, responder, count, connections)
            server_cpu = server_cpu_seconds(server)
            elapsed, cpu = run_concurrent(accounts, seconds)
            server_cpu = server_cpu_seconds(server) - server_cpu
        latencies = [latency for account in accounts for latency in account.latencies]
        failed = [error for account in accounts for error in account.errors]
        for error in failed:
            errors[error] = errors.get(error, 0) + 1
        p50, p99 = (f"{_percentile(latencies, q) * 1000:>8.1f}" if latencies else f"{'-':>8}" for q in (0.5, 0.99))
        print(f"{count:>8} {len(latencies):>7} {len(latencies) / elapsed:>9.1f} {p50} {p99} "
              f"{server_cpu / elapsed:>10.0%} {cpu / elapsed:>10.0%} {len(failed):>7}", flush=True)
    for error, times in errors.items():
        print(f"  failed {times}x: {error}")


def _sequential(ca: CA, directory: str, responder: HttpServer, lego: Lego, orders: int) -> None:
    with contextlib.ExitStack() as connections:
        (account,) = _accounts(ca, directory, responder, 1, connections)
        start = time.perf_counter()
        for number in range(orders):
            account.order(number)
        own = time.perf_counter() - start
    lego.register()
    start = time.perf_counter()
    for number in range(orders):
        lego.obtain((f"l{number}.lego.bench.test",), HTTP_01)
    lego_seconds = time.perf_counter() - start
    print(f"\n{orders} sequential orders: benchmark client {own:.2f} s, lego {lego_seconds:.2f} s "
          "(step-ca 0.19 with lego, for reference: about 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrency row")
    parser.add_argument("--accounts", default="1,4,16", help="comma-separated numbers of concurrent accounts")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument("--lego", type=int, default=10, help="sequential orders for the lego reference row")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        dns = start_challtestsrv(work)
        stack.callback(dns.stop)
        responder = HttpServer()
        stack.callback(responder.close)
        ca = init_ca(work / "ca")
        lego_http_port = free_port()
        for name, http_port in (("bench", responder.port), ("lego", lego_http_port)):
            add_acme_provisioner(ca, name, require_eab=False, http_port=http_port, tls_port=free_port(),
                                 resolver=dns.resolver)
        server = start_server(ca, workers=args.workers)
        stack.callback(server.stop)
        directory = f"https://127.0.0.1:{ca.port}/acme/bench/directory"
        lego = Lego(Endpoint(f"https://127.0.0.1:{ca.port}/acme/lego/directory", ca.root, lego_http_port,
                             free_port(), dns.resolver, dns.management_url), work / "lego")
        print(f"appliance serve: {args.workers} workers, SQLite, softkms; {os.cpu_count()} cores; "
              f"{args.seconds:g} s per row\n")
        try:
            _rows(server, directory, responder, [int(n) for n in args.accounts.split(",")], args.seconds)
            _sequential(ca, directory, responder, lego, args.lego)
        except BaseException:
            print("appliance serve log (tail):\n" + "\n".join(server.log().splitlines()[-LOG_TAIL:]), file=sys.stderr)
            raise


if __name__ == "__main__":
    main()
