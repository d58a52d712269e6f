"""SSH issuance throughput of ``appliance serve``: SSH certificates per second and p50/p99
latency of ``POST /1.0/ssh/sign`` for N concurrent clients over keep-alive HTTPS, with
the SSH CA keys in softkms or in SoftHSM2 (PKCS#11).

Each configuration gets a new CA from ``appliance init --ssh`` (all keys in softkms, or
all in a private SoftHSM2 token) and a server with ``--workers`` processes. Requests
(an Ed25519 public key and a JWK token with ``step.ssh`` claims each) are made before
the clock starts; the client and the measurement are those of ``benchmarks/issue.py``.

    .venv/bin/python benchmarks/ssh.py                                   # softkms and softhsm, N=2,8,32
    .venv/bin/python benchmarks/ssh.py --only softkms --clients 8 --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.client.files import fingerprint, load_certificates
from appliance.client.ssh import ssh_token
from appliance.jose import decrypt_jwk
from appliance.sshcert import key_blob
from issue import (APPLIANCE, HEADER, PASSWORD, PIN, PROVISIONER, SOFTHSM_MODULE, Ca, Result, cpu_seconds,  # noqa: E402
                   free_port, machine_busy, measure, row, running_server, softhsm_env)

CONFIGURATIONS = ("softkms", "softhsm")


def init_ssh_ca(workdir: Path, kms: str) -> Ca:
    """``appliance init --ssh``, every key in softkms or in SoftHSM2."""
    password_file = workdir / "password"
    password_file.write_text(PASSWORD + "\n")
    env = softhsm_env(workdir) if kms == "softhsm" else dict(os.environ)
    extra = []
    if kms == "softhsm":
        extra = ["--kms", f"pkcs11:module-path={SOFTHSM_MODULE};token=bench?pin-value={PIN}",
                 "--root-key-uri", "pkcs11:id=01;object=root", "--intermediate-key-uri", "pkcs11:id=02;object=int",
                 "--ssh-user-key-uri", "pkcs11:id=03;object=ssh-user", "--ssh-host-key-uri",
                 "pkcs11:id=04;object=ssh-host"]
    port = free_port()
    subprocess.run([str(APPLIANCE), "init", "--path", str(workdir / "ca"), "--name", "Bench", "--dns", "localhost",
                    "--address", f"127.0.0.1:{port}", "--provisioner", PROVISIONER, "--ssh",
                    "--password-file", str(password_file), *extra], check=True, capture_output=True, env=env)
    return Ca(workdir / "ca", port, password_file, env)


def ssh_sign_requests(ca: Ca, count: int) -> list[bytes]:
    """``count`` complete HTTP requests for user certificates, each with its own key and token."""
    data = json.loads(ca.ca_json.read_text())
    (entry,) = [p for p in data["authority"]["provisioners"] if p["name"] == PROVISIONER]
    key = decrypt_jwk(entry["encryptedKey"], PASSWORD.encode())
    sha = fingerprint(load_certificates(ca.root)[0])
    requests = []
    for index in range(count):
        name = f"user{index}"
        public = ed25519.Ed25519PrivateKey.generate().public_key()
        ott = ssh_token(key, provisioner=PROVISIONER, ca_url=ca.url, endpoint="ssh/sign", subject=name,
                        root_fingerprint=sha, cert_type="user", principals=[name])
        body = json.dumps({"publicKey": base64.b64encode(key_blob(public)).decode(), "ott": ott,
                           "certType": "user", "keyID": name, "principals": [name]}).encode()
        head = (f"POST /1.0/ssh/sign HTTP/1.1\r\nHost: localhost:{ca.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        requests.append(head + body)
    return requests


def run(configuration: str, clients: list[int], count: int, workers: int) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="appliance-bench-ssh-") as tmp:
        ca = init_ssh_ca(Path(tmp), configuration)
        with running_server(ca, workers) as server:
            for n in clients:
                warmup, requests = ssh_sign_requests(ca, n), ssh_sign_requests(ca, count)
                cpu, server_cpu, (busy, total) = time.process_time(), cpu_seconds(server.pid), machine_busy()
                elapsed, latencies, errors = asyncio.run(measure(ca, n, warmup, requests))
                busy_after, total_after = machine_busy()
                result = Result(f"ssh {configuration}", n, count, elapsed, latencies, errors,
                                (time.process_time() - cpu) / elapsed, (cpu_seconds(server.pid) - server_cpu) / elapsed,
                                (busy_after - busy) / (total_after - total))
                print(f"  {row(result)}", file=sys.stderr)
                results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CONFIGURATIONS), help="softkms, softhsm (comma-separated).")
    parser.add_argument("--clients", default="2,8,32", help="Concurrent clients, comma-separated.")
    parser.add_argument("--requests", type=int, default=1500, help="Requests per configuration and N.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Server worker processes.")
    args = parser.parse_args()
    configurations = [c for c in args.only.split(",") if c]
    if set(configurations) - set(CONFIGURATIONS):
        parser.error(f"choose configurations from {', '.join(CONFIGURATIONS)}")
    clients = [int(n) for n in args.clients.split(",")]
    results = [r for c in configurations for r in run(c, clients, args.requests, args.workers)]
    print(HEADER)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(row(result))
    if any(r.errors for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
