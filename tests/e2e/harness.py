"""Real CAs for end-to-end tests: ``appliance init`` and ``appliance serve`` run
as processes, clients speak HTTPS (httpx, curl), artefacts are checked with openssl."""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

from appliance.config import load_config
from appliance.db.engine import database_url
from appliance.jose import decrypt_jwk, sign
from appliance.jose.jwk import JWK
from tests.conftest import APPLIANCE

PASSWORD = "e2e password"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
TABLES = ("certificates", "revocations", "used_tokens")


@functools.lru_cache(maxsize=16)
def _decrypt(encrypted_key: str) -> JWK:
    """A provisioner key (PBKDF2 with 600,000 iterations is slow: decrypt each once)."""
    return decrypt_jwk(encrypted_key, PASSWORD.encode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class CA:
    """An initialised CA directory."""

    path: Path
    port: int
    password_file: Path
    config_name: str = "ca.json"

    @property
    def ca_json(self) -> Path:
        return self.path / "config" / self.config_name

    def another_instance(self) -> CA:
        """The same CA (keys, database) with its own ca.json listening on another port."""
        other = CA(self.path, free_port(), self.password_file, f"ca-{uuid.uuid4().hex[:8]}.json")
        data = self.data()
        data["address"] = f"127.0.0.1:{other.port}"
        other.write(data)
        return other

    @property
    def root(self) -> Path:
        return self.path / "certs" / "root_ca.crt"

    @property
    def intermediate(self) -> Path:
        return self.path / "certs" / "intermediate_ca.crt"

    @property
    def fingerprint(self) -> str:
        return x509.load_pem_x509_certificate(self.root.read_bytes()).fingerprint(hashes.SHA256()).hex()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def data(self) -> dict[str, Any]:
        return json.loads(self.ca_json.read_text())

    def write(self, data: dict[str, Any]) -> None:
        self.ca_json.write_text(json.dumps(data, indent="\t"))

    def provisioner_key(self, name: str = "admin") -> JWK:
        (provisioner,) = [p for p in self.data()["authority"]["provisioners"] if p["name"] == name]
        return _decrypt(provisioner["encryptedKey"])

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query on the CA's database (SQLite or PostgreSQL)."""
        engine = create_engine(database_url(load_config(self.ca_json, report=False).db))
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql))]
        finally:
            engine.dispose()

    def rows(self) -> dict[str, int]:
        """Row counts of the tables a request may write to."""
        return {table: self.query(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.root), timeout=30, **kwargs)


def init_ca(directory: Path, *extra: str, port: int | None = None) -> CA:
    """``appliance init`` with flags only, as scripts/run-ca.sh runs it."""
    directory.mkdir(parents=True, exist_ok=True)
    password_file = directory / "password"
    password_file.write_text(PASSWORD + "\n")
    port = port or free_port()
    subprocess.run(
        [str(APPLIANCE), "init", "--path", str(directory / "ca"), "--name", "E2E", "--dns", "localhost",
         "--dns", "127.0.0.1", "--address", f"127.0.0.1:{port}", "--provisioner", "admin",
         "--password-file", str(password_file), *extra],
        check=True, capture_output=True, timeout=120,
    )
    return CA(directory / "ca", port, password_file)


@dataclass
class Server:
    """A running ``appliance serve`` (its own process group, killed in teardown)."""

    ca: CA
    process: subprocess.Popen[bytes]
    log_file: Path
    stopped: bool = field(default=False)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if "serving https://" in self.log():  # the supervisor is up, so are its workers
                with self.ca.client() as client:
                    if client.get("/health").status_code == 200:
                        return
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        try:  # the workers share the group of the supervisor we started
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(STOP_TIMEOUT)


def launch(ca: CA, argv: list[str]) -> Server:
    """Start a server command in a process group of its own; return once it serves."""
    log_file = ca.path / f"serve-{uuid.uuid4().hex[:8]}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(ca, process, log_file)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_server(ca: CA, workers: int = 2) -> Server:
    """``appliance serve`` as an operator runs it."""
    return launch(ca, [str(APPLIANCE), "serve", str(ca.ca_json), "--password-file", str(ca.password_file),
                       "--workers", str(workers)])


@contextlib.contextmanager
def running_server(ca: CA, workers: int = 2) -> Iterator[Server]:
    """``start_server`` for the ``with`` block; stopped when it ends."""
    server = start_server(ca, workers)
    try:
        yield server
    finally:
        server.stop()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(common_name: str, key: ec.EllipticCurvePrivateKey, sans: tuple[str, ...] = ()) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def token(ca: CA, subject: str, sans: list[str] | None = None, *, endpoint: str = "sign",
          audience: str | None = None, sha: str | None = None, provisioner: str = "admin",
          issued: datetime.datetime | None = None, lifetime: int = 300) -> str:
    """A one-time token as ``step ca token`` makes it."""
    now = issued or datetime.datetime.now(datetime.timezone.utc)
    claims = {
        "iss": provisioner,
        "aud": audience or f"{ca.url}/1.0/{endpoint}",
        "sub": subject,
        "sans": sans if sans is not None else [subject],
        "sha": sha or ca.fingerprint,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return sign(claims, ca.provisioner_key(provisioner))


def renew_token(ca: CA, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> str:
    """A renew token: signed by the certificate's key, the certificate in ``x5c``."""

    now = int(time.time())
    common_name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    claims = {"iss": "appliance-e2e", "aud": f"{ca.url}/1.0/renew", "sub": common_name,
              "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    der = certificate.public_bytes(serialization.Encoding.DER)
    return sign(claims, JWK.from_pyca(key), headers={"x5c": [base64.b64encode(der).decode()]})


def write_pem(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey | str) -> Path:
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(item.encode())
        elif isinstance(item, x509.Certificate):
            parts.append(item.public_bytes(serialization.Encoding.PEM))
        else:
            parts.append(item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    path.write_bytes(b"".join(parts))
    return path
