"""An HTTPS client of step-ca's API that trusts only the pinned root."""

from __future__ import annotations

import hmac
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from appliance.client.files import fingerprint, normalise_fingerprint
from appliance.errors import ApplianceError, BadRequest, ErrorKind

TIMEOUT = 30.0
_KINDS = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.UNAUTHORIZED,
    403: ErrorKind.FORBIDDEN,
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    501: ErrorKind.NOT_IMPLEMENTED,
    503: ErrorKind.UNAVAILABLE,
}


class CaRequestFailed(ApplianceError):
    """The CA answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message, kind=_KINDS.get(status, ErrorKind.UNAVAILABLE))
        self.status = status


@dataclass(frozen=True)
class SignedChain:
    """A certificate the CA issued, and the chain up to (not including) the root."""

    certificates: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> SignedChain:
        """step-ca's ``SignResponse``: ``certChain``, or ``crt`` and ``ca``."""
        pems = body.get("certChain") or [body.get("crt"), body.get("ca")]
        try:
            certificates = tuple(x509.load_pem_x509_certificate(p.encode()) for p in pems if p)
        except (ValueError, AttributeError):
            raise CaRequestFailed("the CA returned a malformed certificate") from None
        if not certificates:
            raise CaRequestFailed("the CA returned no certificate")
        return cls(certificates)


def tls_context(roots_pem: str, client_cert: tuple[Path, Path] | None = None,
                key_password: bytes | None = None) -> ssl.SSLContext:
    """TLS 1.2+ trusting only ``roots_pem``; optionally presenting a certificate (chain file, key file)."""
    context = ssl.create_default_context(cadata=roots_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert[0]), str(client_cert[1]), password=key_password)
        except (OSError, ssl.SSLError) as exc:
            raise BadRequest(f"cannot use {client_cert[0]} with {client_cert[1]} as a client certificate: {exc}") from None
    return context


def _failure(response: httpx.Response) -> CaRequestFailed:
    try:
        message = str(response.json().get("message") or response.reason_phrase)
    except (ValueError, AttributeError):
        message = response.reason_phrase
    return CaRequestFailed(f"the CA refused the request ({response.status_code}): {message}", response.status_code)


class CaClient:
    """One keep-alive HTTPS connection pool to the CA at ``ca_url``."""

    def __init__(self, ca_url: str, context: ssl.SSLContext | bool, *, timeout: float = TIMEOUT) -> None:
        self.ca_url = ca_url.rstrip("/")
        self._http = httpx.Client(base_url=self.ca_url, verify=context, timeout=timeout)

    def __enter__(self) -> CaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CaRequestFailed(f"cannot reach the CA at {self.ca_url}: {exc}") from None
        if response.status_code >= 400:
            raise _failure(response)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise CaRequestFailed(f"the CA sent a response that is not JSON for {path}") from None

    def admin(self, method: str, path: str, token: str, body: Any = None) -> Any:
        """A call of the admin API (``path`` starts with ``/admin``) authorised by an admin token."""
        return self._request(method, path, headers={"Authorization": token},
                             **({} if body is None else {"json": body}))

    def health(self) -> str:
        return str(self._request("GET", "/health").get("status", ""))

    def root(self, sha256: str) -> x509.Certificate:
        """The root with this fingerprint, checked against it (the pin, not the server, decides)."""
        wanted = normalise_fingerprint(sha256)
        body = self._request("GET", f"/root/{wanted}")
        try:
            certificate = x509.load_pem_x509_certificate(str(body["ca"]).encode())
        except (KeyError, TypeError, ValueError):
            raise CaRequestFailed("the CA returned a malformed root certificate") from None
        if not hmac.compare_digest(fingerprint(certificate), wanted):
            raise CaRequestFailed("the root the CA returned does not match the fingerprint")
        return certificate

    def provisioners(self) -> list[dict[str, Any]]:
        """Every provisioner, following the cursor through the pages."""
        found: list[dict[str, Any]] = []
        cursor = ""
        while True:
            body = self._request("GET", "/provisioners", params={"cursor": cursor, "limit": 100})
            found.extend(body.get("provisioners") or [])
            cursor = body.get("nextCursor") or ""
            if not cursor:
                return found

    def intermediates(self) -> list[x509.Certificate]:
        """The CA's intermediates (unverified: callers check them against a root)."""
        try:
            return [x509.load_pem_x509_certificate(str(pem).encode())
                    for pem in self._request("GET", "/intermediates")["crts"]]
        except (KeyError, TypeError, ValueError):
            raise CaRequestFailed("the CA returned malformed intermediate certificates") from None

    def crl(self) -> bytes:
        """The CA's current CRL, DER (unverified)."""
        return self._send("GET", "/1.0/crl").content

    def ocsp(self, request_der: bytes) -> bytes:
        """The CA's OCSP response to ``request_der``, DER (unverified)."""
        return self._send("POST", "/ocsp", content=request_der,
                          headers={"Content-Type": "application/ocsp-request"}).content

    def encrypted_key(self, kid: str) -> str:
        return str(self._request("GET", f"/provisioners/{kid}/encrypted-key")["key"])

    def sign(self, csr_pem: str, ott: str, *, not_before: str = "", not_after: str = "") -> SignedChain:
        body = {"csr": csr_pem, "ott": ott, "notBefore": not_before, "notAfter": not_after}
        return SignedChain.from_response(self._request("POST", "/1.0/sign", json=body))

    def renew(self, bearer: str | None = None) -> SignedChain:
        """Renew the certificate presented over mTLS, or the one in a bearer token's ``x5c``."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return SignedChain.from_response(self._request("POST", "/1.0/renew", headers=headers))

    def revoke(self, serial: str, *, reason_code: int = 0, reason: str = "", ott: str = "") -> None:
        """Passive revocation, by token or (without one) by the mTLS certificate."""
        body = {"serial": serial, "ott": ott, "reasonCode": reason_code, "reason": reason, "passive": True}
        self._request("POST", "/1.0/revoke", json=body)
