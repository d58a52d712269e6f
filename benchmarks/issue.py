"""Issuance throughput of ``appliance serve``: certificates per second and p50/p99
latency of ``POST /1.0/sign`` for N concurrent clients over keep-alive HTTPS.

Each configuration (intermediate key in softkms or SoftHSM2; SQLite or a fresh
PostgreSQL database) gets a new CA from ``appliance init`` and a server with
``--workers`` processes (default: one per core). For each N, the tokens and
CSRs of every request are made before the clock starts and the N connections
are opened (TLS handshake and one request each) before it too; then each
client sends its share of the fixed request count back to back, on its own
connection, through a minimal HTTP/1.1 client on asyncio so that the client
costs as little CPU as possible. The CPU used by the server (all its
processes) and by the client is reported in cores (100 % = one core); "machine
busy" is the share of all cores in use (it includes PostgreSQL and anything
else running).

    .venv/bin/python benchmarks/issue.py                       # 4 configurations x N=2,8,32
    .venv/bin/python benchmarks/issue.py --only softkms/sqlite --clients 32 --requests 3000
    .venv/bin/python benchmarks/issue.py --only softkms/sqlite --lint enforce,off   # the cost of lint-before-sign
    .venv/bin/python benchmarks/issue.py --only softkms/sqlite --clients 32 --profile /tmp/prof

``--profile DIR`` records every server worker with py-spy (``pip install py-spy``)
during the measured runs, sampling only threads that hold the GIL (Python CPU
time, not waits), and writes a flame graph (SVG) and raw collapsed stacks per
configuration and N.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography.hazmat.primitives.asymmetric import ec

from appliance.client.files import fingerprint, load_certificates
from appliance.client.keys import csr_pem, make_csr
from appliance.client.tokens import provisioner_token
from appliance.jose import decrypt_jwk

APPLIANCE = Path(sys.executable).parent / "appliance"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
PASSWORD = "benchmark password"
PG_ADMIN_DSN = os.environ.get("APPLIANCE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CONFIGURATIONS = ("softkms/sqlite", "softkms/postgresql", "softhsm/sqlite", "softhsm/postgresql")
PROVISIONER = "bench"
SUBJECT = "bench.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Ca:
    """An initialised CA and what clients need to reach it."""

    path: Path
    port: int
    password_file: Path
    env: dict[str, str]

    @property
    def ca_json(self) -> Path:
        return self.path / "config" / "ca.json"

    @property
    def root(self) -> Path:
        return self.path / "certs" / "root_ca.crt"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"


def softhsm_env(workdir: Path) -> dict[str, str]:
    """A private SoftHSM2 token directory with one initialised token, ``bench``."""
    tokens = workdir / "tokens"
    tokens.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", PIN],
                   check=True, capture_output=True, env=env)
    return env


@contextlib.contextmanager
def postgres_database() -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database for one run (dropped afterwards); its ``db`` section."""
    import psycopg

    name = f"appliance_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"type": "postgresql", "dataSource": PG_ADMIN_DSN.rsplit("/", 1)[0] + "/", "database": name}
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def init_ca(workdir: Path, kms: str, db: dict[str, str] | None, lint: str) -> Ca:
    """``appliance init`` (keys in softkms or SoftHSM2), then the ``db`` and ``lint`` sections swapped in."""
    password_file = workdir / "password"
    password_file.write_text(PASSWORD + "\n")
    env = softhsm_env(workdir) if kms == "softhsm" else dict(os.environ)
    extra = []
    if kms == "softhsm":
        extra = ["--kms", f"pkcs11:module-path={SOFTHSM_MODULE};token=bench?pin-value={PIN}",
                 "--root-key-uri", "pkcs11:id=01;object=root", "--intermediate-key-uri", "pkcs11:id=02;object=int"]
    port = free_port()
    subprocess.run([str(APPLIANCE), "init", "--path", str(workdir / "ca"), "--name", "Bench", "--dns", "localhost",
                    "--address", f"127.0.0.1:{port}", "--provisioner", PROVISIONER,
                    "--password-file", str(password_file), *extra], check=True, capture_output=True, env=env)
    ca = Ca(workdir / "ca", port, password_file, env)
    data = json.loads(ca.ca_json.read_text())
    data["lint"] = {"mode": lint}
    if db is not None:
        data["db"] = db
    ca.ca_json.write_text(json.dumps(data, indent="\t"))
    return ca


@contextlib.contextmanager
def running_server(ca: Ca, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """``appliance serve`` in its own process group, until the block ends."""
    log = (ca.path / "serve.log").open("wb")
    process = subprocess.Popen([str(APPLIANCE), "serve", str(ca.ca_json), "--password-file", str(ca.password_file),
                                "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, env=ca.env,
                               start_new_session=True)
    try:
        wait_ready(ca, process)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_ready(ca: Ca, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(ca.root))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{(ca.path / 'serve.log').read_text()}")
        try:
            status, _ = asyncio.run(one_request(ca, context, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            if status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def sign_requests(ca: Ca, count: int) -> list[bytes]:
    """``count`` complete HTTP requests, each with its own key, CSR and one-time token."""
    data = json.loads(ca.ca_json.read_text())
    (entry,) = [p for p in data["authority"]["provisioners"] if p["name"] == PROVISIONER]
    key = decrypt_jwk(entry["encryptedKey"], PASSWORD.encode())
    root_fingerprint = fingerprint(load_certificates(ca.root)[0])
    requests = []
    for index in range(count):
        name = f"c{index}.{SUBJECT}"
        ott = provisioner_token(key, provisioner=PROVISIONER, ca_url=ca.url, endpoint="sign", subject=name,
                                root_fingerprint=root_fingerprint)
        csr = csr_pem(make_csr(name, [name], ec.generate_private_key(ec.SECP256R1())))
        body = json.dumps({"csr": csr, "ott": ott}).encode()
        head = (f"POST /1.0/sign HTTP/1.1\r\nHost: localhost:{ca.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        requests.append(head + body)
    return requests


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One request/response on a keep-alive connection (Content-Length bodies only)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    return status, await reader.readexactly(length)


async def one_request(ca: Ca, context: ssl.SSLContext, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", ca.port, ssl=context, server_hostname="localhost")
    try:
        return await exchange(reader, writer, request)
    finally:
        writer.close()


@dataclass
class Result:
    configuration: str
    clients: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    client_cpu: float
    server_cpu: float
    machine_busy: float

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def measure(ca: Ca, clients: int, warmup: list[bytes], requests: list[bytes],
                  expected: int = 201) -> tuple[float, list[float], int]:
    """Open ``clients`` connections (one warm-up request each), then send ``requests``
    spread over them; elapsed seconds, latencies, requests not answered ``expected``."""
    context = ssl.create_default_context(cafile=str(ca.root))
    connections = [await asyncio.open_connection("127.0.0.1", ca.port, ssl=context, server_hostname="localhost")
                   for _ in range(clients)]
    for (reader, writer), request in zip(connections, warmup):
        status, body = await exchange(reader, writer, request)
        if status != expected:
            raise RuntimeError(f"warm-up request failed: {status} {body[:200]!r}")
    latencies: list[float] = []
    failures: list[bytes] = []
    pending = iter(requests)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for request in pending:
            started = time.perf_counter()
            status, body = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status != expected:
                failures.append(body)

    started = time.perf_counter()
    await asyncio.gather(*(client(r, w) for r, w in connections))
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    if failures:
        print(f"  {len(failures)} failed, e.g. {failures[0][:200]!r}", file=sys.stderr)
    return elapsed, latencies, len(failures)


def _proc_text(path: str) -> str:
    """A procfs file, or "" when its process or thread has ended."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (procfs), parents first."""
    children = _proc_text(f"/proc/{pid}/task/{pid}/children").split()
    return [pid, *(found for child in children for found in process_tree(int(child)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (procfs)."""
    total = 0
    for member in process_tree(pid):
        fields = _proc_text(f"/proc/{member}/stat").rsplit(")", 1)[-1].split()
        total += int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0
    return total / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of a process and its
    descendants (procfs): the thread hand-offs a device path costs show up here."""
    threads = [task for member in process_tree(pid) for task in Path(f"/proc/{member}/task").glob("*")]
    return sum(int(line.split()[1]) for task in threads for line in _proc_text(f"{task}/status").splitlines()
               if "ctxt_switches:" in line)


def machine_busy() -> tuple[float, float]:
    """Busy and total jiffies of all CPUs (procfs), for the machine's utilisation."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def run_clients(ca: Ca, server: subprocess.Popen[bytes], configuration: str, clients: int, count: int) -> Result:
    warmup, requests = sign_requests(ca, clients), sign_requests(ca, count)
    cpu, server_cpu, (busy, total) = time.process_time(), cpu_seconds(server.pid), machine_busy()
    elapsed, latencies, errors = asyncio.run(measure(ca, clients, warmup, requests))
    busy_after, total_after = machine_busy()
    return Result(configuration, clients, count, elapsed, latencies, errors, (time.process_time() - cpu) / elapsed,
                  (cpu_seconds(server.pid) - server_cpu) / elapsed, (busy_after - busy) / (total_after - total))


@contextlib.contextmanager
def profiling(server: subprocess.Popen[bytes], output: Path | None, name: str) -> Iterator[None]:
    """py-spy on the supervisor and its workers while the block runs (if ``output``)."""
    if output is None:
        yield
        return
    output.mkdir(parents=True, exist_ok=True)
    stem = output / name.replace("/", "-")
    recorders = [subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid), "--subprocesses", "--nonblocking", "--gil",
                                   "--rate", "200", "--format", fmt, "--output", f"{stem}.{ext}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for fmt, ext in (("flamegraph", "svg"), ("raw", "txt"))]
    time.sleep(1)
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(60)
        print(f"  profile: {stem}.svg, {stem}.txt", file=sys.stderr)


def run_configuration(configuration: str, clients: list[int], count: int, workers: int,
                      profile: Path | None, lint: str) -> list[Result]:
    kms, db_engine = configuration.split("/")
    results = []
    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp, \
            (postgres_database() if db_engine == "postgresql" else contextlib.nullcontext()) as db:
        ca = init_ca(Path(tmp), kms, db, lint)
        with running_server(ca, workers) as server:
            for n in clients:
                with profiling(server, profile, f"{configuration}-n{n}"):
                    result = run_clients(ca, server, f"{configuration} lint={lint}", n, count)
                print(f"  {row(result)}", file=sys.stderr)
                results.append(result)
    return results


HEADER = ("| configuration | N | requests | certs/s | p50 ms | p99 ms | errors "
          "| server CPU | client CPU | machine busy |")


def row(result: Result) -> str:
    return (f"| {result.configuration} | {result.clients} | {result.requests} | {result.rate:,.0f} | "
            f"{result.percentile(0.5):.1f} | {result.percentile(0.99):.1f} | {result.errors} | "
            f"{result.server_cpu:.0%} | {result.client_cpu:.0%} | {result.machine_busy:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CONFIGURATIONS), help="Configurations, comma-separated.")
    parser.add_argument("--clients", default="2,8,32", help="Concurrent clients, comma-separated.")
    parser.add_argument("--requests", type=int, default=1500, help="Requests per configuration and N.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Server worker processes.")
    parser.add_argument("--profile", type=Path, help="Record the server with py-spy into this directory.")
    parser.add_argument("--lint", default="enforce", help="Lint modes (enforce, warn, off), comma-separated.")
    args = parser.parse_args()
    configurations = [c for c in args.only.split(",") if c]
    unknown = set(configurations) - set(CONFIGURATIONS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; choose from {', '.join(CONFIGURATIONS)}")
    clients = [int(n) for n in args.clients.split(",")]
    print(f"# {os.cpu_count()} CPUs, {args.workers} server workers, {args.requests} requests per row, "
          f"client and server on this machine", file=sys.stderr)
    results = [r for c in configurations for mode in args.lint.split(",")
               for r in run_configuration(c, clients, args.requests, args.workers, args.profile, mode)]
    print(HEADER)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(row(result))
    if any(r.errors for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
