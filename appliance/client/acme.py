"""A small RFC 8555 ACME client (JWS-signed POSTs, nonces, order polling), enough for the
orders ``appliance ca certificate --attestation-uri`` places, as step's ACME flow does."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jws

from appliance.client.http import CaRequestFailed
from appliance.jose import algorithm_for, public_dict, thumbprint
from appliance.jose.b64 import b64encode
from appliance.jose.jwk import JWK

JOSE = {"Content-Type": "application/jose+json"}
BAD_NONCE = "urn:ietf:params:acme:error:badNonce"
#: Polls of an order before giving up (device-attest-01 is validated in the request itself).
POLLS = 30


def problem_detail(problem: Any) -> str:
    """A problem document's detail, with its subproblems' (as step prints them)."""
    if not isinstance(problem, dict):
        return "no details"
    details = [str(s.get("detail")) for s in problem.get("subproblems") or () if isinstance(s, dict) and s.get("detail")]
    return "; ".join([str(problem.get("detail") or problem.get("type") or "no details"), *details])


@dataclass
class Resource:
    """An ACME object and its URL."""

    url: str
    body: dict[str, Any]


class AcmeClient:
    """One ACME account at one directory, over an ``httpx.Client`` that trusts the CA's root."""

    def __init__(self, http: httpx.Client, directory_url: str, key: JWK, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = http
        self.key = key
        self.sleep = sleep
        self.account_url: str | None = None
        self._nonce: str | None = None
        self.directory = self._json(self._request("GET", directory_url), directory_url)

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise CaRequestFailed(f"cannot reach the ACME server at {url}: {exc}") from None
        self._nonce = response.headers.get("Replay-Nonce") or self._nonce
        return response

    @staticmethod
    def _json(response: httpx.Response, url: str) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise CaRequestFailed(f"the ACME server refused the request ({response.status_code}): "
                                  f"{problem_detail(body)}", response.status_code)
        if not isinstance(body, dict):
            raise CaRequestFailed(f"the ACME server sent a response that is not a JSON object for {url}")
        return body

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.key)

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    def post(self, url: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        """A JWS POST (POST-as-GET when ``payload`` is None), sent again once on ``badNonce``."""
        response = self._signed_post(url, payload)
        if response.status_code == 400 and _problem_type(response) == BAD_NONCE:
            response = self._signed_post(url, payload)
        return response

    def _signed_post(self, url: str, payload: dict[str, Any] | None) -> httpx.Response:
        if self._nonce is None:
            self._request("HEAD", self.directory["newNonce"])
        protected: dict[str, Any] = {"alg": algorithm_for(self.key), "nonce": self._nonce, "url": url}
        if self.account_url:
            protected["kid"] = self.account_url
        else:
            protected["jwk"] = {k: v for k, v in public_dict(self.key).items() if k not in ("kid", "alg", "use")}
        self._nonce = None
        token = jws.JWS(b"" if payload is None else json.dumps(payload).encode())
        token.add_signature(self.key, alg=protected["alg"], protected=json.dumps(protected))
        return self._request("POST", url, content=token.serialize(compact=False), headers=JOSE)

    def fetch(self, url: str, payload: dict[str, Any] | None = None) -> Resource:
        response = self.post(url, payload)
        return Resource(response.headers.get("Location") or url, self._json(response, url))

    def register(self) -> None:
        """A new account for this key (terms of service agreed, as ``step ca certificate`` does)."""
        self.account_url = self.fetch(self.directory["newAccount"], {"termsOfServiceAgreed": True}).url

    def new_order(self, identifiers: list[dict[str, str]]) -> Resource:
        return self.fetch(self.directory["newOrder"], {"identifiers": identifiers})

    def poll(self, order: Resource, done: tuple[str, ...]) -> Resource:
        """The order once its status is one of ``done`` (or ``invalid``)."""
        for _ in range(POLLS):
            order = Resource(order.url, self.fetch(order.url).body)
            status = order.body.get("status")
            if status in done:
                return order
            if status == "invalid":
                raise CaRequestFailed(f"the ACME order became invalid: {problem_detail(order.body.get('error'))}", 403)
            self.sleep(1.0)
        raise CaRequestFailed(f"the ACME order is still {order.body.get('status')!r} after {POLLS} polls")

    def finalize(self, order: Resource, csr: x509.CertificateSigningRequest) -> list[x509.Certificate]:
        """Finalize with ``csr`` and download the certificate chain."""
        self.fetch(order.body["finalize"], {"csr": b64encode(csr.public_bytes(Encoding.DER))})
        done = self.poll(order, ("valid",))
        response = self.post(str(done.body.get("certificate")))
        if response.status_code >= 400:
            self._json(response, str(done.body.get("certificate")))
        try:
            return x509.load_pem_x509_certificates(response.content)
        except ValueError:
            raise CaRequestFailed("the ACME server returned a malformed certificate chain") from None


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None
