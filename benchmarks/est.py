"""EST simpleenroll requests per second, in process (Starlette's TestClient, no TLS), one client.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/est.py [--requests 200]

Each request is a full enrolment: HTTP basic check, base64 PKCS#10 parse and signature
check, policy, template, sign with the softkms P-256 intermediate, record, certs-only PKCS#7.
CSRs (P-256) are made beforehand."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from appliance.api import create_app
from tests.est.test_est import EST, SECRET, basic, pkcs10, start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    _, authority = start(Path(tempfile.mkdtemp(prefix="est-bench-")), EST)
    http = TestClient(create_app(authority), base_url="https://ca.test")
    bodies = [pkcs10(f"d{i}.devices.test") for i in range(args.requests)]
    headers = {"Content-Type": "application/pkcs10", **basic("device", SECRET)}
    latencies = []
    began = time.perf_counter()
    for body in bodies:
        started = time.perf_counter()
        response = http.post("/.well-known/est/devices/simpleenroll", content=body, headers=headers)
        assert response.status_code == 200, response.text
        latencies.append(time.perf_counter() - started)
    elapsed = time.perf_counter() - began
    print(f"EST simpleenroll: {args.requests / elapsed:.1f} enrolments/s, "
          f"p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {sorted(latencies)[int(len(latencies) * .95)] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
