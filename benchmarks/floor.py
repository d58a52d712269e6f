"""The least CPU one ``/1.0/sign`` can cost in Python on this machine: the work no CA may
skip, each step timed alone in a tight loop, with no framework around it.

A certificate for a JWK token and a P-256 CSR over keep-alive TLS needs at least:
decrypting the request and encrypting the response (TLS 1.3, memory BIOs), parsing the
HTTP head (httptools, as uvicorn does) and the JSON body, the token's ES256 signature and
its claims, the CSR's signature, building and signing the leaf, verifying it against the
issuer, its PEM, and one SQLite transaction in WAL mode (``synchronous=NORMAL``) that spends
the token and records the certificate. Each step here is the cheapest correct call
``cryptography``, the standard library and httptools offer; nothing is cached across
requests that a CA could not cache (every request has its own key, CSR and token).

The sum is a floor for any Python request path on this interpreter and these libraries:
it has no routing, logging, metrics, audit chain, template, policy or error handling.
Dividing the cores the server can have by it gives the most certificates per second such
a server could issue, to hold against ``vs_stepca.py``'s step-ca rate.

    .venv/bin/python benchmarks/floor.py              # 2,000 requests per step, best of 5 rounds
    .venv/bin/python benchmarks/floor.py --requests 5000 --rounds 7
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import sqlite3
import ssl
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httptools
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.client.keys import csr_pem, make_csr
from appliance.client.tokens import provisioner_token
from appliance.jose.jwk import generate_jwk

ISSUER_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Floor Intermediate CA")])


@dataclass
class Fixture:
    """The issuer, the provisioner's key and ``count`` requests (token, CSR PEM, HTTP bytes)."""

    issuer_key: ec.EllipticCurvePrivateKey
    issuer_cert: x509.Certificate
    jwk_public: ec.EllipticCurvePublicKey
    bodies: list[bytes]
    requests: list[bytes]


def self_signed(key: ec.EllipticCurvePrivateKey, name: x509.Name) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))


def fixture(count: int) -> Fixture:
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    jwk = generate_jwk("EC", crv="P-256")
    bodies, requests = [], []
    for index in range(count):
        name = f"c{index}.floor.example"
        ott = provisioner_token(jwk, provisioner="floor", ca_url="https://localhost", endpoint="sign",
                                subject=name, root_fingerprint="00" * 32)
        csr = csr_pem(make_csr(name, [name], ec.generate_private_key(ec.SECP256R1())))
        body = json.dumps({"csr": csr, "ott": ott}).encode()
        bodies.append(body)
        requests.append(b"POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return Fixture(issuer_key, self_signed(issuer_key, ISSUER_NAME),
                   jwk.get_op_key("verify"), bodies, requests)


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_token(ott: str, public: ec.EllipticCurvePublicKey) -> dict:
    """The ES256 signature and the claims a JWK token must pass."""
    head, payload, signature = ott.split(".")
    header = json.loads(b64url(head))
    if header["alg"] != "ES256":
        raise ValueError("alg")
    raw = b64url(signature)
    public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                  f"{head}.{payload}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64url(payload))
    now = time.time()
    if not claims["nbf"] - 60 <= now <= claims["exp"] or claims["iss"] != "floor":
        raise ValueError("claims")
    return claims


def leaf(csr: x509.CertificateSigningRequest, names: list[str], fx: Fixture) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    public = csr.public_key()
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(fx.issuer_cert.subject)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=24))
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(fx.issuer_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(fx.issuer_key, hashes.SHA256()))


class TlsPair:
    """A TLS 1.3 session over memory BIOs; only the server's side of each exchange is timed."""

    def __init__(self, fx: Fixture, workdir: Path) -> None:
        cert, key = workdir / "tls.crt", workdir / "tls.key"
        cert.write_bytes(fx.issuer_cert.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(fx.issuer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert, key)
        client_context = ssl.create_default_context(cafile=str(cert))
        self.s_in, self.s_out, self.c_in, self.c_out = (ssl.MemoryBIO() for _ in range(4))
        self.server = server_context.wrap_bio(self.s_in, self.s_out, server_side=True)
        self.client = client_context.wrap_bio(self.c_in, self.c_out, server_hostname="localhost")
        for _ in range(10):
            for side in (self.client, self.server):
                try:
                    side.do_handshake()
                except ssl.SSLWantReadError:
                    pass
            self.s_in.write(self.c_out.read())
            self.c_in.write(self.s_out.read())

    def server_seconds(self, request: bytes, response: bytes) -> float:
        self.client.write(request)
        self.s_in.write(self.c_out.read())
        started = time.perf_counter()
        received = b""
        while len(received) < len(request):
            received += self.server.read(65536)
        self.server.write(response)
        wire = self.s_out.read()
        spent = time.perf_counter() - started
        self.c_in.write(wire)
        while True:
            try:
                self.client.read(65536)
            except ssl.SSLWantReadError:
                break
        return spent


def response_body(cert: x509.Certificate, fx: Fixture) -> bytes:
    crt = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    ca = fx.issuer_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return json.dumps({"crt": crt, "ca": ca, "certChain": [crt, ca]}).encode()


def sqlite_database(workdir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(workdir / "floor.db", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE tokens (id TEXT PRIMARY KEY, provisioner TEXT, spent_at REAL)")
    db.execute("CREATE TABLE certificates (serial TEXT PRIMARY KEY, der BLOB, subject TEXT, not_after REAL,"
               " provisioner TEXT)")
    db.execute("CREATE TABLE names (serial TEXT, name TEXT)")
    db.execute("CREATE INDEX names_name ON names (name)")
    return db


def record(db: sqlite3.Connection, jti: str, cert: x509.Certificate, name: str) -> None:
    serial = format(cert.serial_number, "x")
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (jti, "floor", time.time()))
    db.execute("INSERT INTO certificates VALUES (?, ?, ?, ?, ?)",
               (serial, cert.public_bytes(serialization.Encoding.DER), name, time.time(), "floor"))
    db.execute("INSERT INTO names VALUES (?, ?)", (serial, name))
    db.execute("COMMIT")


def timed(step: Callable[[int], None], count: int) -> float:
    """CPU microseconds per call of ``step(i)`` over ``count`` calls."""
    started = time.process_time()
    for index in range(count):
        step(index)
    return (time.process_time() - started) / count * 1e6


def one_round(fx: Fixture, workdir: Path, count: int) -> dict[str, float]:
    tokens = [json.loads(b)["ott"] for b in fx.bodies]
    csrs = [x509.load_pem_x509_csr(json.loads(b)["csr"].encode()) for b in fx.bodies]
    certs = [leaf(csr, [f"c{i}.floor.example"], fx) for i, csr in enumerate(csrs)]
    responses = [response_body(cert, fx) for cert in certs]
    issuer_public = fx.issuer_key.public_key()
    (workdir / "floor.db").unlink(missing_ok=True)
    (workdir / "floor.db-wal").unlink(missing_ok=True)
    db = sqlite_database(workdir)
    tls = TlsPair(fx, workdir)

    def parse_http(i: int) -> None:
        parser = httptools.HttpRequestParser(_Sink())
        parser.feed_data(fx.requests[i])

    def check_csr(i: int) -> None:
        csr = x509.load_pem_x509_csr(json.loads(fx.bodies[i])["csr"].encode())
        if not csr.is_signature_valid:
            raise ValueError("csr")

    def verify_leaf(i: int) -> None:
        cert = certs[i]
        issuer_public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))

    tls_us = sum(tls.server_seconds(fx.requests[i], b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
                                    b"content-length: %d\r\n\r\n" % len(responses[i]) + responses[i])
                 for i in range(count)) / count * 1e6
    steps = {
        "TLS 1.3: decrypt request, encrypt response": tls_us,
        "HTTP head (httptools)": timed(parse_http, count),
        "JSON body": timed(lambda i: json.loads(fx.bodies[i]), count),
        "token: ES256 signature, claims": timed(lambda i: verify_token(tokens[i], fx.jwk_public), count),
        "CSR: parse, signature": timed(check_csr, count),
        "leaf: build and sign (P-256)": timed(lambda i: leaf(csrs[i], [f"c{i}.floor.example"], fx), count),
        "leaf: verify against the issuer": timed(verify_leaf, count),
        "response: PEM and JSON": timed(lambda i: response_body(certs[i], fx), count),
        "SQLite: token spent, certificate and name recorded": timed(
            lambda i: record(db, tokens[i][-43:] + str(i), certs[i], f"c{i}.floor.example"), count),
    }
    db.close()
    return steps


class _Sink:
    """httptools callbacks that keep what uvicorn keeps (URL, headers, body)."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fx = fixture(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        rounds = [one_round(fx, Path(tmp), args.requests) for _ in range(args.rounds)]
    print(f"{'step':<55} {'us/cert (best)':>15} {'median':>8}")
    best_total = median_total = 0.0
    for step in rounds[0]:
        values = [r[step] for r in rounds]
        best_total += min(values)
        median_total += statistics.median(values)
        print(f"{step:<55} {min(values):>15.1f} {statistics.median(values):>8.1f}")
    print(f"{'floor: sum':<55} {best_total:>15.1f} {median_total:>8.1f}")
    print(f"load average {os.getloadavg()[0]:.2f}; one process, one thread; "
          f"{1e6 / best_total:,.0f} certificates/s per core at the floor")


if __name__ == "__main__":
    main()
