"""A wire-protocol test double of Azure Key Vault's keys REST API (no emulator exists).

It speaks HTTPS with a test CA, answers unauthenticated requests with Key
Vault's 401 bearer challenge, and serves ``GET /keys/{name}[/{version}]``,
``POST /keys/{name}/create`` and ``POST /keys/{name}/{version}/sign`` (each
needing ``api-version``) with Key Vault's JSON shapes: JWKs with base64url
``x``/``y`` or ``n``/``e``, ``kid`` URLs, ``{"error": {"code", "message"}}``.
It holds real keys and signs as Key Vault does: ECDSA as raw r||s, RSA-PSS
with salt length = digest length; ``POST /keys/{name}/{version}/decrypt``
opens RSA1_5, RSA-OAEP (SHA-1) and RSA-OAEP-256 (SHA-256, MGF1 too) with the
key, needing ``decrypt`` in its ``key_ops``, and answers 400 BadParameter to a
ciphertext that does not open. Tokens come from an App Service managed
identity endpoint (``GET /msi/token``), so ``DefaultAzureCredential`` works
offline. Keys named ``forbidden-*`` answer 403, as Key Vault does without RBAC rights.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHALLENGE = f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net"'
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_PADDINGS: dict[str, padding.AsymmetricPadding] = {
    "RSA1_5": padding.PKCS1v15(),
    "RSA-OAEP": padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None),
    "RSA-OAEP-256": padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VaultError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class StoredKey:
    name: str
    version: str
    kty: str
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key_ops: list[str]
    created: int = field(default_factory=lambda: int(time.time()))

    def bundle(self, base_url: str) -> dict[str, Any]:
        jwk: dict[str, Any] = {"kid": f"{base_url}/keys/{self.name}/{self.version}", "kty": self.kty, "key_ops": self.key_ops}
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            size = (public.curve.key_size + 7) // 8
            numbers = public.public_numbers()
            jwk |= {"crv": {v.name: k for k, v in _CURVES.items()}[public.curve.name],
                    "x": b64url(numbers.x.to_bytes(size, "big")), "y": b64url(numbers.y.to_bytes(size, "big"))}
        else:
            numbers = public.public_numbers()
            jwk |= {"n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))}
        attributes = {"enabled": True, "created": self.created, "updated": self.created,
                      "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}
        return {"key": jwk, "attributes": attributes}

    def sign(self, alg: str, digest: bytes) -> bytes:
        hash_alg = _HASHES.get(alg[2:])
        if hash_alg is None or len(digest) != hash_alg.digest_size:
            raise VaultError(400, "BadParameter", f"Invalid digest length or algorithm {alg}.")
        prehashed = utils.Prehashed(hash_alg())
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            curve = {v.name: k for k, v in _CURVES.items()}[key.curve.name]
            if alg != _EC_ALGORITHMS[curve]:
                raise VaultError(400, "BadParameter", "Key and signing algorithm are incompatible.")
            r, s = utils.decode_dss_signature(key.sign(digest, ec.ECDSA(prehashed)))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg[:2] == "PS":
            pad: padding.AsymmetricPadding = padding.PSS(mgf=padding.MGF1(hash_alg()), salt_length=padding.PSS.DIGEST_LENGTH)
        elif alg[:2] == "RS":
            pad = padding.PKCS1v15()
        else:
            raise VaultError(400, "BadParameter", "Key and signing algorithm are incompatible.")
        return key.sign(digest, pad, prehashed)


    def decrypt(self, alg: str, ciphertext: bytes) -> bytes:
        key = self.private_key
        if not isinstance(key, rsa.RSAPrivateKey) or alg not in _PADDINGS:
            raise VaultError(400, "BadParameter", "Key and encryption algorithm are incompatible.")
        try:
            return key.decrypt(ciphertext, _PADDINGS[alg])
        except ValueError:
            raise VaultError(400, "BadParameter", "Error decrypting the ciphertext.") from None


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 signed by it: (ca, cert, key) PEM paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Key Vault test double CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class KeyVaultServer:
    """The test double, serving HTTPS on a free loopback port from a thread."""

    def __init__(self, directory: Path) -> None:
        self.ca_file, cert, key = make_tls(directory)
        self.keys: dict[str, list[StoredKey]] = {}
        self.tokens: set[str] = set()
        self.identity_header = secrets.token_hex(8)
        self.requests: list[tuple[str, str, int, bool]] = []  # method, path, status, had a bearer token
        self.lock = threading.Lock()
        self.failures: list[VaultError] = []  # answers to the next sign or decrypt requests, in order
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> KeyVaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def issue_token(self, resource: str) -> dict[str, str]:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return {"access_token": token, "expires_on": str(int(time.time()) + 3600), "resource": resource,
                "token_type": "Bearer"}

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def find(self, name: str, version: str | None) -> StoredKey:
        if name.startswith("forbidden-"):
            raise VaultError(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\n"
                             "Action: 'Microsoft.KeyVault/vaults/keys/read'")
        for stored in reversed(self.keys.get(name, [])):
            if version in (None, stored.version):
                return stored
        raise VaultError(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")

    def create(self, name: str, body: dict[str, Any]) -> StoredKey:
        kty = str(body.get("kty", ""))
        if kty in ("EC", "EC-HSM") and body.get("crv") in _CURVES:
            private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = ec.generate_private_key(_CURVES[body["crv"]]())
        elif kty in ("RSA", "RSA-HSM") and body.get("key_size", 2048) in (2048, 3072, 4096):
            private_key = rsa.generate_private_key(65537, body.get("key_size", 2048))
        else:
            raise VaultError(400, "BadParameter", f"Unsupported key type or parameters: {kty}")
        stored = StoredKey(name, secrets.token_hex(16), kty, private_key, list(body.get("key_ops") or []))
        with self.lock:
            self.keys.setdefault(name, []).append(stored)
        return stored


def _handler(server: KeyVaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``server.requests`` instead."""

        def _reply(self, status: int, body: dict[str, Any] | None, challenge: bool = False) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if challenge:
                self.send_header("WWW-Authenticate", CHALLENGE)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            authorization = self.headers.get("Authorization", "")
            status = 200
            try:
                if url.path == "/msi/token":
                    if self.headers.get("X-IDENTITY-HEADER") != server.identity_header:
                        raise VaultError(401, "Unauthorized", "bad identity header")
                    body = server.issue_token(query.get("resource", [""])[0])
                else:
                    if "api-version" not in query:
                        raise VaultError(400, "BadParameter", "The 'api-version' query parameter is missing.")
                    token = authorization.removeprefix("Bearer ")
                    if not authorization.startswith("Bearer ") or token not in server.tokens:
                        status = 401
                        self._reply(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}, challenge=True)
                        return
                    body = self._keys(method, [p for p in url.path.split("/") if p], json.loads(raw or b"{}"))
                self._reply(200, body)
            except VaultError as exc:
                status = exc.status
                self._reply(exc.status, {"error": {"code": exc.code, "message": exc.message}})
            finally:
                with server.lock:
                    server.requests.append((method, url.path, status, authorization.startswith("Bearer ")))

        def _keys(self, method: str, parts: list[str], body: dict[str, Any]) -> dict[str, Any]:
            if not parts or parts[0] != "keys" or len(parts) < 2:
                raise VaultError(404, "NotFound", "no such path")
            name, rest = parts[1], parts[2:]
            if method == "GET" and len(rest) <= 1:
                return server.find(name, rest[0] if rest else None).bundle(server.url)
            if method == "POST" and rest == ["create"]:
                return server.create(name, body).bundle(server.url)
            if method == "POST" and len(rest) == 2 and rest[1] in ("sign", "decrypt"):
                with server.lock:
                    failure = server.failures.pop(0) if server.failures else None
                if failure is not None:
                    raise failure
                stored, operation = server.find(name, rest[0]), rest[1]
                if operation not in stored.key_ops:
                    raise VaultError(403, "Forbidden", f"Operation {operation} is not permitted on this key.")
                run = stored.sign if operation == "sign" else stored.decrypt
                answer = run(str(body.get("alg")), unb64url(str(body.get("value", ""))))
                return {"kid": stored.bundle(server.url)["key"]["kid"], "value": b64url(answer)}
            raise VaultError(405, "MethodNotAllowed", f"{method} is not allowed here")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

    return Handler
