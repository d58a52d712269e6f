"""A small ACME client for tests: JWS signing with jwcrypto, every header overridable."""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jwk, jws

from appliance.jose import algorithm_for

JOSE = {"Content-Type": "application/jose+json"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jws(key: jwk.JWK, protected: dict[str, Any], payload: bytes, alg: str | None = None) -> dict[str, str]:
    """A flattened JSON JWS."""
    token = jws.JWS(payload)
    token.allowed_algs = [alg or algorithm_for(key), "HS256", "HS384", "HS512"]
    token.add_signature(key, alg=alg or algorithm_for(key), protected=json.dumps(protected))
    return json.loads(token.serialize(compact=False))


def public(key: jwk.JWK) -> dict[str, Any]:
    return key.export_public(as_dict=True)


class AcmeClient:
    """Drives a server through an httpx-compatible client (TestClient or httpx.Client)."""

    def __init__(self, http: httpx.Client, directory_url: str, key: jwk.JWK | None = None) -> None:
        self.http = http
        self.directory = http.get(directory_url).json()
        self.key = key or jwk.JWK.generate(kty="EC", crv="P-256")
        self.account_url: str | None = None
        self._nonce: str | None = None

    def nonce(self) -> str:
        if self._nonce is None:
            self._nonce = self.http.head(self.directory["newNonce"]).headers["Replay-Nonce"]
        nonce, self._nonce = self._nonce, None
        return nonce

    def body(self, url: str, payload: Any, *, key: jwk.JWK | None = None, use_jwk: bool = False,
             alg: str | None = None, **protected: Any) -> dict[str, str]:
        """The JWS for a request; ``payload`` None means POST-as-GET; ``protected`` overrides headers."""
        key = key or self.key
        header: dict[str, Any] = {"alg": alg or algorithm_for(key), "nonce": self.nonce(), "url": url}
        if use_jwk or self.account_url is None:
            header["jwk"] = public(key)
        else:
            header["kid"] = self.account_url
        header.update(protected)
        for name in [k for k, v in header.items() if v is None]:
            del header[name]
        data = b"" if payload is None else json.dumps(payload).encode()
        return sign_jws(key, header, data, alg)

    def send(self, url: str, body: dict[str, Any] | str) -> httpx.Response:
        content = body if isinstance(body, str) else json.dumps(body)
        response = self.http.post(url, content=content, headers=JOSE)
        self._nonce = response.headers.get("Replay-Nonce")
        return response

    def post(self, url: str, payload: Any = None, **options: Any) -> httpx.Response:
        return self.send(url, self.body(url, payload, **options))

    def register(self, **payload: Any) -> httpx.Response:
        response = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True, **payload}, use_jwk=True)
        if response.status_code in (200, 201):
            self.account_url = response.headers["Location"]
        return response

    def new_order(self, *names: str, **extra: Any) -> httpx.Response:
        identifiers = [{"type": "ip" if _is_ip(n) else "dns", "value": n} for n in names]
        return self.post(self.directory["newOrder"], {"identifiers": identifiers, **extra})

    def thumbprint(self) -> str:
        return self.key.thumbprint()

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint()}"

    def poll(self, url: str, done: tuple[str, ...] = ("valid", "invalid"), timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.post(url).json()
            if body.get("status") in done or time.monotonic() > deadline:
                return body
            time.sleep(0.02)

    def finalize(self, order: dict[str, Any], csr: x509.CertificateSigningRequest) -> httpx.Response:
        return self.post(order["finalize"], {"csr": b64(csr.public_bytes(Encoding.DER))})


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
