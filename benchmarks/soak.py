"""Soak: ``appliance serve`` under mixed sign/renew/revoke for minutes, with the
request count, errors, p50/p99 latency and the server's memory per window.

A new CA from ``appliance init`` (softkms; SQLite, or a fresh PostgreSQL
database dropped afterwards) is served with ``--workers`` processes. C clients,
each on its own keep-alive HTTPS connection (reopened if the server closes it),
send requests back to back: sign (a new P-256 key, CSR and one-time JWK token),
renew (a renew token signed by the key of one of the client's certificates, the
certificate in ``x5c``) or revoke (a revoke token for one of its serials), chosen
at random with the weights of ``--mix``. Every ``--window`` seconds a line gives
the window's requests by kind, errors, p50/p99 latency, the CPU of the server
(all its processes) and of this client (100 % = one core), and the server's RSS
(the supervisor and every worker, summed, and the number of processes); a
summary follows. The clients share the machine with the server.

    .venv/bin/python benchmarks/soak.py --minutes 3
    .venv/bin/python benchmarks/soak.py --minutes 10 --clients 16 --db postgresql --window 60

A request is an error if it does not answer 201 (sign, renew) or 200 (revoke),
or its connection fails; the first few are printed. The exit status is 1 if
there was any error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.client.files import fingerprint, load_certificates
from appliance.client.keys import csr_pem, make_csr
from appliance.client.tokens import provisioner_token, renew_token
from appliance.jose import decrypt_jwk
from appliance.jose.jwk import JWK
from issue import PASSWORD, PROVISIONER, Ca, cpu_seconds, exchange, init_ca, postgres_database, running_server

KINDS = ("sign", "renew", "revoke")
#: Certificates a client keeps for renewing and revoking; the oldest is forgotten beyond.
POOL = 16
SHOWN_ERRORS = 5


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (procfs)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def rss_mib(pid: int) -> list[float]:
    """Resident memory of ``pid`` and each descendant, in MiB."""
    sizes = []
    for process in process_tree(pid):
        with contextlib.suppress(FileNotFoundError):
            status = Path(f"/proc/{process}/status").read_text()
            kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            sizes.append(kib / 1024)
    return sizes


@dataclass
class Window:
    """What the clients saw since the last report."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Window) -> None:
        for kind, count in other.counts.items():
            self.counts[kind] += count
        self.errors += other.errors
        self.latencies.extend(other.latencies)

    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


@dataclass
class Credentials:
    """What clients need to make requests: the provisioner's key, the CA's URL and root."""

    ca: Ca
    key: JWK
    root_fingerprint: str
    context: ssl.SSLContext

    @classmethod
    def of(cls, ca: Ca) -> Credentials:
        data = json.loads(ca.ca_json.read_text())
        (entry,) = [p for p in data["authority"]["provisioners"] if p["name"] == PROVISIONER]
        return cls(ca, decrypt_jwk(entry["encryptedKey"], PASSWORD.encode()),
                   fingerprint(load_certificates(ca.root)[0]), ssl.create_default_context(cafile=str(ca.root)))

    def request(self, path: str, body: dict[str, object], bearer: str = "") -> bytes:
        payload = json.dumps(body).encode()
        auth = f"Authorization: Bearer {bearer}\r\n" if bearer else ""
        return (f"POST /1.0/{path} HTTP/1.1\r\nHost: localhost:{self.ca.port}\r\nContent-Type: application/json\r\n"
                f"{auth}Content-Length: {len(payload)}\r\n\r\n").encode() + payload


class Client:
    """One client: a connection, its certificates and its share of the load."""

    def __init__(self, index: int, credentials: Credentials, mix: dict[str, float], seed: int) -> None:
        self.name = f"client{index}"
        self.credentials = credentials
        self.mix = mix
        self.random = random.Random(seed * 1000 + index)
        self.pool: list[tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = []
        self.serial = 0
        self.connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def _next(self) -> tuple[str, bytes, ec.EllipticCurvePrivateKey | None]:
        """The kind of the next request, the request, and the key of a certificate it will return."""
        kind = self.random.choices(list(self.mix), weights=list(self.mix.values()))[0] if self.pool else "sign"
        c = self.credentials
        if kind == "sign":
            self.serial += 1
            name = f"{self.name}-{self.serial}.soak.example"
            key = ec.generate_private_key(ec.SECP256R1())
            ott = provisioner_token(c.key, provisioner=PROVISIONER, ca_url=c.ca.url, endpoint="sign", subject=name,
                                    root_fingerprint=c.root_fingerprint)
            return kind, c.request("sign", {"csr": csr_pem(make_csr(name, [name], key)), "ott": ott}), key
        certificate, key = self.pool.pop(self.random.randrange(len(self.pool)))
        if kind == "renew":
            return kind, c.request("renew", {}, renew_token([certificate], key, ca_url=c.ca.url)), key
        serial = str(certificate.serial_number)
        ott = provisioner_token(c.key, provisioner=PROVISIONER, ca_url=c.ca.url, endpoint="revoke", subject=serial,
                                root_fingerprint=c.root_fingerprint)
        return kind, c.request("revoke", {"serial": serial, "ott": ott, "reasonCode": 4, "passive": True}), None

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = await asyncio.open_connection(
                "127.0.0.1", self.credentials.ca.port, ssl=self.credentials.context, server_hostname="localhost")
        try:
            return await exchange(*self.connection, request)
        except BaseException:
            self.connection[1].close()
            self.connection = None
            raise

    async def run(self, stats: dict[str, Window], errors: list[str], stop: asyncio.Event) -> None:
        while not stop.is_set():
            kind, request, key = self._next()
            started = time.perf_counter()
            try:
                status, body = await self._exchange(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                status, body = 0, repr(err).encode()
            window = stats["current"]
            window.latencies.append(time.perf_counter() - started)
            window.counts[kind] += 1
            if status != (200 if kind == "revoke" else 201):
                window.errors += 1
                errors.append(f"{kind}: {status} {body[:200]!r}")
                continue
            if key is not None:
                certificate = x509.load_pem_x509_certificate(json.loads(body)["crt"].encode())
                self.pool = [*self.pool, (certificate, key)][-POOL:]

    def close(self) -> None:
        if self.connection is not None:
            self.connection[1].close()


def report_line(elapsed: float, window: Window, cpu: tuple[float, float], rss: list[float]) -> str:
    counts = " ".join(f"{window.counts[kind]:>6}" for kind in KINDS)
    return (f"{elapsed:>7.0f} {window.requests:>8} {counts} {window.errors:>6} {window.percentile(0.5):>7.1f} "
            f"{window.percentile(0.99):>7.1f} {cpu[0]:>6.0%} {cpu[1]:>6.0%} {sum(rss):>8.1f} {len(rss):>5}")


HEADER = (f"{'t (s)':>7} {'requests':>8} {'sign':>6} {'renew':>6} {'revoke':>6} {'errors':>6} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'server':>6} {'client':>6} {'RSS MiB':>8} {'procs':>5}")


async def soak(credentials: Credentials, server_pid: int, args: argparse.Namespace,
               mix: dict[str, float]) -> tuple[Window, list[str], list[float], list[float]]:
    """Run the clients for ``--minutes``, printing a line per window; the totals, the
    errors, and the RSS per process at the start and at the end."""
    stats = {"current": Window()}
    errors: list[str] = []
    stop = asyncio.Event()
    clients = [Client(i, credentials, mix, args.seed) for i in range(args.clients)]
    total = Window()
    rss_start = rss_mib(server_pid)
    print(f"# RSS at start: {sum(rss_start):.1f} MiB in {len(rss_start)} processes "
          f"({', '.join(f'{r:.1f}' for r in rss_start)})")
    print(HEADER)
    started = time.monotonic()
    tasks = [asyncio.create_task(client.run(stats, errors, stop)) for client in clients]
    cpu, client_cpu, last = cpu_seconds(server_pid), time.process_time(), started
    end = started + args.minutes * 60
    while last < end:
        await asyncio.sleep(min(args.window, end - last))
        window, stats["current"] = stats["current"], Window()
        cpu_now, client_now, now = cpu_seconds(server_pid), time.process_time(), time.monotonic()
        shares = ((cpu_now - cpu) / (now - last), (client_now - client_cpu) / (now - last))
        print(report_line(now - started, window, shares, rss_mib(server_pid)), flush=True)
        cpu, client_cpu, last = cpu_now, client_now, now
        total.add(window)
    stop.set()
    await asyncio.gather(*tasks)
    total.add(stats["current"])
    for client in clients:
        client.close()
    return total, errors, rss_start, rss_mib(server_pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="How long to run (default 3).")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients (default 16).")
    parser.add_argument("--window", type=float, default=30.0, help="Seconds per report line (default 30).")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Server worker processes.")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--mix", default="sign=6,renew=3,revoke=1", help="Weights of the request kinds.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    mix = {kind: float(weight) for kind, weight in (part.split("=") for part in args.mix.split(","))}
    if set(mix) - set(KINDS) or "sign" not in mix:
        parser.error(f"--mix takes weights of {', '.join(KINDS)} (sign among them)")
    print(f"# {os.cpu_count()} CPUs, {args.workers} workers, {args.clients} clients, softkms/{args.db}, "
          f"{args.minutes:g} min, mix {args.mix}, client and server on this machine")
    with tempfile.TemporaryDirectory(prefix="appliance-soak-") as tmp, \
            (postgres_database() if args.db == "postgresql" else contextlib.nullcontext()) as db:
        ca = init_ca(Path(tmp), "softkms", db)
        with running_server(ca, args.workers) as server:
            total, errors, rss_start, rss_end = asyncio.run(soak(Credentials.of(ca), server.pid, args, mix))
    for error in errors[:SHOWN_ERRORS]:
        print(f"  error: {error}", file=sys.stderr)
    counts = ", ".join(f"{total.counts[kind]} {kind}" for kind in KINDS)
    print(f"# total: {total.requests} requests ({counts}), {total.errors} errors, "
          f"{total.requests / (args.minutes * 60):.0f}/s, p50 {total.percentile(0.5):.1f} ms, "
          f"p99 {total.percentile(0.99):.1f} ms, max {max(total.latencies, default=0) * 1000:.1f} ms")
    print(f"# RSS: {sum(rss_start):.1f} MiB at start, {sum(rss_end):.1f} MiB at end "
          f"({', '.join(f'{r:.1f}' for r in rss_end)})")
    if total.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
