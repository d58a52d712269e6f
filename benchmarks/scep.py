"""SCEP enrolments per second against an in-process CA served by uvicorn on loopback.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/scep.py [--requests 60] [--clients 1,4]
       [--decrypters softkms,softhsm]

Requests are built beforehand by the openssl client of the tests (AES-256, RSA 2048), then
POSTed by N concurrent threads; each is a full PKCSReq: RSA decrypt, CSR checks, issue
(lint, sign, record), CertRep sign. Decrypters: ``softkms`` (the RSA intermediate's key
decrypts and signs the CertReps) and ``softhsm`` (an RSA 2048 key on a SoftHSM2 token,
``decrypterKey``: C_Decrypt opens requests, C_Sign signs CertReps as the RA; an EC
intermediate issues). Also prints the cost of one RSA decrypt and one RSA signature with
that key, through the same KMS objects the server uses."""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from appliance.kms import Decrypter, open_key_manager
from tests.ca_fixtures import TestCA, build_ca
from tests.scep.conftest import CHALLENGE, add_provisioners, pem_b64, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"


def _per_call(call: Callable[[], Any], rounds: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - start) / rounds * 1000


def _softhsm_decrypter(work: Path, ca: TestCA) -> tuple[str, Path]:
    """An RSA key on a fresh SoftHSM2 token (this process's SOFTHSM2_CONF) and its certificate."""
    tokens = work / "tokens"
    tokens.mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # before the module is first loaded in this process
    tool = ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", "bench"]
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", PIN],
                   check=True, capture_output=True)
    subprocess.run([*tool, "--login", "--pin", PIN, "--keypairgen", "--key-type", "rsa:2048", "--usage-decrypt",
                    "--usage-sign", "--id", "5c", "--label", "scep"], check=True, capture_output=True)
    public_der = subprocess.run([*tool, "--read-object", "--type", "pubkey", "--label", "scep"], check=True,
                                capture_output=True).stdout
    public_key = serialization.load_der_public_key(public_der)
    assert isinstance(public_key, rsa.RSAPublicKey)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=SCEP RA (SoftHSM2)"))
                   .issuer_name(ca.intermediate.subject).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .sign(ca.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]
    path = work / "decrypter.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    uri = f"pkcs11:module-path={SOFTHSM_MODULE};token=bench;object=scep?pin-value={PIN}"
    add_provisioners(ca, scep_provisioner(decrypterCertificate=pem_b64(certificate), decrypterKey=uri))
    return uri, path


def _key_costs(decrypter: rsa.RSAPrivateKey) -> tuple[float, float]:
    """Milliseconds of one PKCS#1 v1.5 decrypt (of a content key) and one SHA-256 signature."""
    secret = decrypter.public_key().encrypt(os.urandom(32), padding.PKCS1v15())
    return (_per_call(lambda: decrypter.decrypt(secret, padding.PKCS1v15())),
            _per_call(lambda: decrypter.sign(b"x" * 64, padding.PKCS1v15(), hashes.SHA256())))


def run(kind: str, requests: int, clients_list: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"scep-bench-{kind}-"))
    if kind == "softkms":
        ca = build_ca(work / "ca", intermediate_kind="RSA")
        add_provisioners(ca, scep_provisioner())
        recipient = ca.intermediate_path
        key = ca.intermediate_key
        assert isinstance(key, rsa.RSAPrivateKey)
        decrypt_ms, sign_ms = _key_costs(key)
    else:
        ca = build_ca(work / "ca")
        uri, recipient = _softhsm_decrypter(work, ca)
        manager = open_key_manager(uri)
        assert isinstance(manager, Decrypter)
        decrypt_ms, sign_ms = _key_costs(manager.create_decrypter(uri))
        manager.close()
    print(f"[{kind}] RSA 2048 decrypt {decrypt_ms:.2f} ms, sign {sign_ms:.2f} ms (ratio {sign_ms / decrypt_ms:.2f})")
    env = start_scep(ca)
    try:
        client = OpensslClient(work / "client")
        for clients in clients_list:
            messages = [client.request(recipient, CHALLENGE) for _ in range(requests)]
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
            assert env.issued() >= requests
            print(f"[{kind}] {clients} clients: {requests / elapsed:.1f} enrolments/s, "
                  f"p50 {statistics.median(latencies) * 1000:.1f} ms")
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--decrypters", default="softkms,softhsm")
    args = parser.parse_args()
    for kind in args.decrypters.split(","):
        run(kind, args.requests, [int(n) for n in args.clients.split(",")])


if __name__ == "__main__":
    main()
