"""SCEP enrolments per second against an in-process CA served by uvicorn on loopback.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/scep.py [--requests 60] [--clients 1,4]

Requests are built beforehand by the openssl client of the tests (AES-256, RSA 2048,
softkms decrypter = the RSA intermediate), then POSTed by N concurrent threads; each
is a full PKCSReq: RSA decrypt, CSR checks, issue (lint, sign, record), CertRep sign.
Also prints the cost of the RSA decrypt and the RSA signature alone."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.ca_fixtures import build_ca
from tests.scep.conftest import CHALLENGE, add_provisioners, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient


def _per_call(call: Callable[[], Any], rounds: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - start) / rounds * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", default="1,4")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scep-bench-"))
    ca = build_ca(work / "ca", intermediate_kind="RSA")
    add_provisioners(ca, scep_provisioner())
    env = start_scep(ca)
    try:
        key = ca.intermediate_key
        assert isinstance(key, rsa.RSAPrivateKey)
        secret = key.public_key().encrypt(os.urandom(32), padding.PKCS1v15())
        decrypt_ms = _per_call(lambda: key.decrypt(secret, padding.PKCS1v15()))
        sign_ms = _per_call(lambda: key.sign(b"x" * 64, padding.PKCS1v15(), hashes.SHA256()))
        print(f"RSA 2048 decrypt {decrypt_ms:.2f} ms, sign {sign_ms:.2f} ms (softkms, in-process)")
        client = OpensslClient(work / "client")
        for clients in (int(n) for n in args.clients.split(",")):
            messages = [client.request(ca.intermediate_path, CHALLENGE) for _ in range(args.requests)]
            latencies: list[float] = []

            def enrol(message: bytes) -> None:
                started = time.perf_counter()
                response = httpx.post(env.url() + "?operation=PKIOperation", content=message, timeout=60)
                assert response.status_code == 200
                latencies.append(time.perf_counter() - started)

            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(enrol, messages))
            elapsed = time.perf_counter() - start
            print(f"{clients} clients: {args.requests / elapsed:.1f} enrolments/s, "
                  f"p50 {statistics.median(latencies) * 1000:.1f} ms")
    finally:
        env.close()


if __name__ == "__main__":
    main()
