"""Issuance side by side: step-ca 0.19 and ``appliance serve`` on the same machine, same client.

Both CAs share one root, intermediate (P-256, the key in an encrypted PKCS#8 file
for step-ca and softkms) and JWK provisioner, made by ``appliance init``; step-ca
reads the same ca.json with only ``address`` and ``db`` changed. Databases:
the appliance on SQLite against step-ca's default ``badgerv2`` (step-ca 0.19 has
no SQLite backend); with ``--postgresql`` both on PostgreSQL, each on a fresh
database of its own (scripts/build-step-ca.sh lays smallstep/nosql v0.4.0's
PostgreSQL driver, kept in scripts/step-ca-nosql/, over Debian's nosql 0.3.8).
step-ca does not lint, so the appliance runs twice, ``lint.mode`` ``enforce``
(the default) and ``off``. ``--softhsm`` adds the appliance with its
intermediate in SoftHSM2.

All servers run at once (idle when not measured); every round measures each of
them in turn for every N (alternating rounds, same load on the machine). The
load comes from ``--client-processes`` processes, each with its share of the N
keep-alive HTTPS connections (the minimal asyncio client of ``issue.py``); every
request has its own key, CSR and one-time token, made before the clock starts.
Printed per round: certs/s, p50/p99, the server's CPU and context switches per certificate (all its
processes, from /proc), the client's CPU in cores and the machine's load; then
the medians and the appliance/step-ca ratio.

    .venv/bin/python benchmarks/vs_stepca.py                         # N=8,32, 3 rounds, SQLite/badger
    .venv/bin/python benchmarks/vs_stepca.py --postgresql --softhsm  # both on PostgreSQL, plus SoftHSM2

step-ca is built once by scripts/build-step-ca.sh (cached under .cache/step-ca/).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).parent))
from issue import (Ca, context_switches, cpu_seconds, free_port, init_ca, machine_busy,  # noqa: E402
                   postgres_database, running_server, sign_requests, wait_ready)

ROOT = Path(__file__).resolve().parent.parent


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One request/response on a keep-alive connection; Content-Length or chunked bodies (step-ca's Go server
    chunks responses over 2 KiB)."""
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    if "transfer-encoding: chunked" not in head:
        length = next((int(line.split(":", 1)[1]) for line in lines if line.startswith("content-length:")), 0)
        return status, await reader.readexactly(length)
    body = b""
    while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return status, body


@dataclass
class Server:
    name: str
    ca: Ca
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def step_ca_server(workdir: Path, appliance_ca: Ca, db: dict[str, str]) -> Iterator[Server]:
    """step-ca on the appliance CA's keys, certificates and provisioner, its own port and database."""
    binary = subprocess.run([str(ROOT / "scripts" / "build-step-ca.sh")], check=True, capture_output=True,
                            text=True).stdout.strip()
    path = workdir / "step-ca"
    (path / "config").mkdir(parents=True)
    (path / "certs").mkdir()
    shutil.copy(appliance_ca.root, path / "certs" / "root_ca.crt")
    ca = Ca(path, free_port(), appliance_ca.password_file, dict(os.environ))
    data = json.loads(appliance_ca.ca_json.read_text())
    data.update(address=f"127.0.0.1:{ca.port}", db=db)
    data.pop("crl", None)
    ca.ca_json.write_text(json.dumps(data, indent="\t"))
    log = (path / "serve.log").open("wb")
    process = subprocess.Popen([binary, str(ca.ca_json), str(ca.password_file)], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(ca, process)
        yield Server("step-ca", ca, process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
        log.close()


@contextlib.contextmanager
def appliance_server(workdir: Path, name: str, kms: str, db: dict[str, str] | None, lint: str,
                     workers: int) -> Iterator[Server]:
    path = workdir / "".join(c if c.isalnum() else "-" for c in name)  # SoftHSM2's config has no "=" in paths
    path.mkdir()
    ca = init_ca(path, kms, db, lint)
    with running_server(ca, workers) as process:
        yield Server(name, ca, process)


async def client_share(ca: Ca, clients: int, warmup: list[bytes], requests: list[bytes],
                       barrier: multiprocessing.synchronize.Barrier) -> tuple[float, float, list[float], int]:
    """Open this process's connections (one warm-up request each), wait for the others, then send
    ``requests`` over them; start and end times, latencies and failures."""
    import ssl

    context = ssl.create_default_context(cafile=str(ca.root))
    connections = [await asyncio.open_connection("127.0.0.1", ca.port, ssl=context, server_hostname="localhost")
                   for _ in range(clients)]
    for (reader, writer), request in zip(connections, warmup):
        status, body = await exchange(reader, writer, request)
        if status != 201:
            raise RuntimeError(f"warm-up request failed: {status} {body[:200]!r}")
    barrier.wait()
    latencies: list[float] = []
    failures = 0
    pending = iter(requests)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal failures
        for request in pending:
            started = time.perf_counter()
            status, _ = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            failures += status != 201

    started = time.perf_counter()
    await asyncio.gather(*(client(r, w) for r, w in connections))
    ended = time.perf_counter()
    for _, writer in connections:
        writer.close()
    return started, ended, latencies, failures


def client_process(ca: Ca, clients: int, warmup: list[bytes], requests: list[bytes],
                   barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    cpu = time.process_time()
    try:
        started, ended, latencies, failures = asyncio.run(client_share(ca, clients, warmup, requests, barrier))
    except BaseException as error:
        barrier.abort()
        results.put(error)
        raise
    results.put((started, ended, latencies, failures, time.process_time() - cpu))


@dataclass
class Round:
    server: str
    clients: int
    certificates: int
    seconds: float
    latencies: list[float]
    errors: int
    server_cpu_seconds: float
    client_cpu_seconds: float
    machine_busy: float
    server_switches: int

    @property
    def rate(self) -> float:
        return self.certificates / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    @property
    def cpu_per_cert_ms(self) -> float:
        return self.server_cpu_seconds / self.certificates * 1000

    @property
    def switches_per_cert(self) -> float:
        return self.server_switches / self.certificates


def measure(server: Server, clients: int, count: int, processes: int) -> Round:
    """``count`` requests from ``clients`` connections spread over ``processes`` client processes."""
    processes = min(processes, clients)
    warmup, requests = sign_requests(server.ca, clients), sign_requests(server.ca, count)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes + 1)
    queue: multiprocessing.Queue = context.Queue()
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    workers, offset = [], 0
    for i, share in enumerate(shares):
        worker = context.Process(target=client_process, args=(server.ca, share, warmup[offset:offset + share],
                                                              requests[i::processes], barrier, queue))
        worker.start()
        workers.append(worker)
        offset += share
    barrier.wait(timeout=300)
    server_cpu, (busy, total) = cpu_seconds(server.process.pid), machine_busy()
    switches = context_switches(server.process.pid)
    outcomes = [queue.get() for _ in workers]
    if failed := [o for o in outcomes if isinstance(o, BaseException)]:
        raise RuntimeError(f"a client process failed: {failed[0]!r}")
    server_cpu = cpu_seconds(server.process.pid) - server_cpu
    switches = context_switches(server.process.pid) - switches
    busy_after, total_after = machine_busy()
    for worker in workers:
        worker.join()
    seconds = max(o[1] for o in outcomes) - min(o[0] for o in outcomes)
    errors = sum(o[3] for o in outcomes)
    return Round(server.name, clients, count - errors, seconds, [lat for o in outcomes for lat in o[2]], errors,
                 server_cpu, sum(o[4] for o in outcomes), (busy_after - busy) / (total_after - total), switches)


HEADER = ("| round | server | N | certs/s | p50 ms | p99 ms | errors | server CPU ms/cert | switches/cert "
          "| server cores | client cores | machine busy |")


def row(label: str, r: Round) -> str:
    return (f"| {label} | {r.server} | {r.clients} | {r.rate:,.0f} | {r.percentile(0.5):.1f} | "
            f"{r.percentile(0.99):.1f} | {r.errors} | {r.cpu_per_cert_ms:.2f} | {r.switches_per_cert:.1f} | "
            f"{r.server_cpu_seconds / r.seconds:.0%} | {r.client_cpu_seconds / r.seconds:.0%} | {r.machine_busy:.0%} |")


def summary(rounds: list[Round]) -> None:
    print("\n| server | N | median certs/s | ratio to step-ca | median p99 ms | median CPU ms/cert "
          "| median switches/cert |")
    print("|---|---|---|---|---|---|---|")
    for n in sorted({r.clients for r in rounds}):
        names = list(dict.fromkeys(r.server for r in rounds))
        medians = {name: statistics.median(r.rate for r in rounds if r.server == name and r.clients == n)
                   for name in names}
        for name in names:
            mine = [r for r in rounds if r.server == name and r.clients == n]
            reference = next((v for k, v in medians.items() if k.startswith("step-ca")), None)
            ratio = f"{medians[name] / reference:.2f}x" if reference else "-"
            print(f"| {name} | {n} | {medians[name]:,.0f} | {ratio} | "
                  f"{statistics.median(r.percentile(0.99) for r in mine):.1f} | "
                  f"{statistics.median(r.cpu_per_cert_ms for r in mine):.2f} | "
                  f"{statistics.median(r.switches_per_cert for r in mine):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="8,32", help="Concurrent connections, comma-separated.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds.")
    parser.add_argument("--requests", type=int, default=3000, help="Requests per server, N and round.")
    parser.add_argument("--client-processes", type=int, default=4, help="Load client processes.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Appliance worker processes.")
    parser.add_argument("--lint", default="enforce,off", help="Appliance lint modes, comma-separated.")
    parser.add_argument("--postgresql", action="store_true",
                        help="Both CAs on PostgreSQL (instead of SQLite and badgerv2).")
    parser.add_argument("--softhsm", action="store_true", help="Add the appliance with a SoftHSM2 intermediate.")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers (their own sessions) on SIGTERM too
    clients = [int(n) for n in args.clients.split(",")]
    load = os.getloadavg()
    print(f"# {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{args.workers} appliance workers, {args.client_processes} client processes, "
          f"{args.requests} requests per row", file=sys.stderr)
    database = "postgresql" if args.postgresql else "sqlite"
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="appliance-vs-stepca-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)

        def fresh_db() -> dict[str, str] | None:
            return stack.enter_context(postgres_database()) if args.postgresql else None

        servers = [stack.enter_context(appliance_server(workdir, f"appliance softkms/{database} lint={mode}",
                                                        "softkms", fresh_db(), mode, args.workers))
                   for mode in args.lint.split(",")]
        if args.softhsm:
            servers.append(stack.enter_context(appliance_server(
                workdir, f"appliance softhsm/{database} lint={args.lint.split(',')[-1]}", "softhsm", fresh_db(),
                args.lint.split(",")[-1], args.workers)))
        step_db = fresh_db() or {"type": "badgerv2", "dataSource": str(workdir / "badger")}
        step = stack.enter_context(step_ca_server(workdir, servers[0].ca, step_db))
        step.name = f"step-ca {step_db['type']}"
        servers.insert(0, step)
        print(HEADER)
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for number in range(1, args.rounds + 1):
            for n in clients:
                for server in servers:
                    result = measure(server, n, args.requests, args.client_processes)
                    print(row(str(number), result), flush=True)
                    rounds.append(result)
    summary(rounds)
    if any(r.errors for r in rounds):
        sys.exit(1)


if __name__ == "__main__":
    main()
