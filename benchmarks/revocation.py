"""Revocation at scale: OCSP responses per second from ``appliance serve`` and the
time and size of a CRL with many revoked serials.

    .venv/bin/python benchmarks/revocation.py                    # OCSP N=2,8,32; CRL 10k and 100k
    .venv/bin/python benchmarks/revocation.py --crl-sizes 10000,100000,1000000 --db sqlite,postgresql

OCSP: a new CA (softkms, SQLite, ``ocsp.enabled``) and a server with ``--workers``
processes; 50 certificates are issued, then N keep-alive HTTPS clients POST
requests for them (no nonce: the cached path a relying party's CDN sees) and the
rate and p50/p99 latency are reported.

CRL: for each size and database, a CA whose database holds that many revoked
serials (inserted in bulk, not through the API), then the first ``GET /crl``'s
work in process (``Authority.crl()``: read the revocations, build, sign, verify;
with lint off and on) is timed and the DER size reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402
from sqlalchemy import delete, insert  # noqa: E402

from appliance.authority.authority import Authority  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.db import open_database  # noqa: E402
from appliance.db.crl_store import crls  # noqa: E402
from appliance.db.schema import revocations  # noqa: E402
from benchmarks.issue import (PASSWORD, Ca, init_ca, measure, one_request, postgres_database,  # noqa: E402
                              running_server, sign_requests)

ISSUED = 50
BATCH = 10_000


def _enable(ca: Ca, **sections: dict[str, object]) -> None:
    data = json.loads(ca.ca_json.read_text())
    data.update(sections)
    ca.ca_json.write_text(json.dumps(data, indent="\t"))


def _ocsp_requests(ca: Ca, count: int) -> list[bytes]:
    """Issue ``ISSUED`` certificates, then ``count`` HTTP requests asking about them in turn."""
    import ssl

    context = ssl.create_default_context(cafile=str(ca.root))
    intermediate = x509.load_pem_x509_certificate((ca.path / "certs" / "intermediate_ca.crt").read_bytes())
    bodies = []
    for request in sign_requests(ca, ISSUED):
        status, body = asyncio.run(one_request(ca, context, request))
        if status != 201:
            raise RuntimeError(f"issuing failed: {status} {body[:200]!r}")
        leaf = x509.load_pem_x509_certificate(json.loads(body)["crt"].encode())
        bodies.append(ocsp.OCSPRequestBuilder().add_certificate(leaf, intermediate, hashes.SHA1()).build()
                      .public_bytes(serialization.Encoding.DER))
    head = f"POST /ocsp HTTP/1.1\r\nHost: localhost:{ca.port}\r\nContent-Type: application/ocsp-request\r\n"
    return [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in (bodies * (count // ISSUED + 1))[:count]]


def ocsp_rows(clients: list[int], count: int, workers: int) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp:
        ca = init_ca(Path(tmp), "softkms", None, "enforce")
        _enable(ca, ocsp={"enabled": True})
        with running_server(ca, workers):
            for n in clients:
                requests = _ocsp_requests(ca, count + n)
                elapsed, latencies, errors = asyncio.run(measure(ca, n, requests[:n], requests[n:], expected=200))
                ordered = sorted(latencies)
                rows.append(f"| OCSP (cached) | {n} | {count} | {(count - errors) / elapsed:,.0f}/s | "
                            f"{ordered[len(ordered) // 2] * 1000:.1f} | {ordered[int(len(ordered) * 0.99)] * 1000:.1f} "
                            f"| {errors} |")
                print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def _fill(ca: Ca, size: int) -> None:
    """``size`` revocations written straight into the CA's database, in batches."""
    config = load_config(ca.ca_json, report=False)
    database = open_database(config.db)
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        with database.engine.begin() as conn:  # type: ignore[attr-defined]
            for start in range(0, size, BATCH):
                conn.execute(insert(revocations), [
                    {"serial": str(secrets.randbits(126) | 1 << 126), "reason_code": 4, "reason": "",
                     "revoked_at": now, "provisioner": "bench", "passive": True, "mtls": False}
                    for _ in range(start, min(size, start + BATCH))
                ])
    finally:
        database.close()


def crl_rows(sizes: list[int], engines: list[str], lint_modes: list[str]) -> list[str]:
    rows = []
    for engine in engines:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp, \
                    (postgres_database() if engine == "postgresql" else contextlib.nullcontext()) as db:
                ca = init_ca(Path(tmp), "softkms", db, "off")
                started = time.perf_counter()
                _fill(ca, size)
                filled = time.perf_counter() - started
                for mode in lint_modes:
                    _enable(ca, crl={"enabled": True}, lint={"mode": mode})
                    config = load_config(ca.ca_json, report=False)
                    database = open_database(config.db)
                    with database.engine.begin() as conn:  # type: ignore[attr-defined]
                        conn.execute(delete(crls))  # each mode builds its own CRL, none served from the database
                    authority = Authority.from_config(config, database, password=PASSWORD.encode())
                    try:
                        started = time.perf_counter()
                        der = authority.crl()
                        built = time.perf_counter() - started
                    finally:
                        authority.close()
                        database.close()
                    rows.append(f"| CRL {engine} lint={mode} | {size:,} | {built:.2f} s | {len(der) / 1e6:.1f} MB | "
                                f"(fill {filled:.1f} s) |")
                    print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="2,8,32", help="OCSP clients, comma-separated ('' to skip OCSP).")
    parser.add_argument("--requests", type=int, default=3000, help="OCSP requests per N.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Server worker processes.")
    parser.add_argument("--crl-sizes", default="10000,100000", help="Revoked serials, comma-separated ('' to skip).")
    parser.add_argument("--db", default="sqlite", help="sqlite and/or postgresql, comma-separated.")
    parser.add_argument("--lint", default="off,enforce", help="Lint modes for the CRL, comma-separated.")
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",") if n]
    sizes = [int(n) for n in args.crl_sizes.split(",") if n]
    rows = ocsp_rows(clients, args.requests, args.workers) if clients else []
    rows += crl_rows(sizes, [e for e in args.db.split(",") if e], [m for m in args.lint.split(",") if m])
    print("| what | N / size | count | rate or time | p50 ms / size | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
