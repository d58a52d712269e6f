"""Local servers speaking the clouds' metadata-service wire protocols (AWS IMDSv2,
GCP's metadata server and Google's JWKS, Azure IMDS), signing with keys the tests
make. The real cloud roots and Google/Microsoft keys are NOT exercised: the
provisioners are configured to trust these test keys instead."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from appliance.jose import public_dict, sign
from appliance.jose.jwk import JWK

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[str, dict[str, list[str]], dict[str, str]], Reply]


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread; routes by (method, path)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                route = routes.get((self.command, parts.path))
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                else:
                    status, headers, body = route(parts.path, parse_qs(parts.query), dict(self.headers))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _text(body: str | bytes, status: int = 200, content_type: str = "text/plain") -> Reply:
    return status, {"Content-Type": content_type}, body.encode() if isinstance(body, str) else body


def _json(value: Any) -> Reply:
    return _text(json.dumps(value), content_type="application/json")


def self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    """A certificate standing in for a cloud's signing certificate."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))


class AwsImds(LocalServer):
    """EC2's instance metadata service with ``HttpTokens: required`` (IMDSv2 only):
    PUT /latest/api/token gives a session token that every GET must carry."""

    def __init__(self, document: dict[str, Any], key: rsa.RSAPrivateKey) -> None:
        super().__init__()
        self.document = json.dumps(document, indent=2).encode()  # as EC2 prints it
        self.signature = base64.b64encode(key.sign(self.document, padding.PKCS1v15(), hashes.SHA256()))
        self.sessions: set[str] = set()
        self.routes[("PUT", "/latest/api/token")] = self._session
        self.routes[("GET", "/latest/dynamic/instance-identity/document")] = self._guard(lambda: self.document)
        self.routes[("GET", "/latest/dynamic/instance-identity/signature")] = self._guard(lambda: self.signature)

    def _session(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        if "X-aws-ec2-metadata-token-ttl-seconds" not in headers:
            return _text("", 400)
        token = secrets.token_urlsafe(32)
        self.sessions.add(token)
        return _text(token)

    def _guard(self, body: Callable[[], bytes]) -> Route:
        def route(path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
            if headers.get("X-aws-ec2-metadata-token") not in self.sessions:
                return _text("", 401)
            return _text(body())
        return route


def aws_document(**overrides: Any) -> dict[str, Any]:
    """An instance identity document in EC2's format."""
    return {
        "accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "eu-west-1a",
        "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
        "imageId": "ami-0abcdef1234567890", "instanceId": "i-1234567890abcdef0", "instanceType": "t3.micro",
        "kernelId": None, "pendingTime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "privateIp": "10.0.1.17", "ramdiskId": None, "region": "eu-west-1", "version": "2017-09-30", **overrides,
    }


class GcpMetadata(LocalServer):
    """GCE's metadata server (``Metadata-Flavor: Google`` required) whose identity
    endpoint mints RS256 tokens in Google's ``format=full`` shape, and Google's
    JWKS endpoint (``/oauth2/v3/certs``) publishing the signing key."""

    def __init__(self, key: JWK, compute_engine: dict[str, Any], email: str, unique_id: str = "104920034580912374") -> None:
        super().__init__()
        self.key, self.compute_engine, self.email, self.unique_id = key, compute_engine, email, unique_id
        self.routes[("GET", "/computeMetadata/v1/instance/service-accounts/default/identity")] = self._identity
        self.routes[("GET", "/oauth2/v3/certs")] = lambda *_: _json({"keys": [public_dict(self.key)]})

    @property
    def certs_url(self) -> str:
        return f"{self.url}/oauth2/v3/certs"

    def _identity(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        if headers.get("Metadata-Flavor") != "Google":
            return _text("Missing Metadata-Flavor:Google header.", 403)
        if "audience" not in query:
            return _text("non-empty audience parameter required", 400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": query["audience"][0], "azp": self.unique_id, "email": self.email, "email_verified": True,
            "exp": now + 3600, "iat": now, "iss": "https://accounts.google.com", "sub": self.unique_id,
        }
        if query.get("format") == ["full"]:
            claims["google"] = {"compute_engine": self.compute_engine}
        return _text(sign(claims, self.key, alg="RS256"))


def gce_instance(**overrides: Any) -> dict[str, Any]:
    """The ``google.compute_engine`` claim of a full identity token."""
    return {"instance_creation_timestamp": int(time.time()) - 60, "instance_id": "5213457098133217521",
            "instance_name": "web-1", "project_id": "acme-prod", "project_number": 736201928311,
            "zone": "europe-west1-b", **overrides}


class AzureImds(LocalServer):
    """Azure's IMDS managed-identity endpoint (``Metadata: true`` required) minting v1
    access tokens as Entra ID does, and the tenant's JWKS (``/discovery/keys``)."""

    def __init__(self, key: JWK, tenant: str, claims: dict[str, Any]) -> None:
        super().__init__()
        self.key, self.tenant, self.claims = key, tenant, claims
        self.routes[("GET", "/metadata/identity/oauth2/token")] = self._token
        self.routes[("GET", "/discovery/keys")] = lambda *_: _json({"keys": [{**public_dict(self.key), "x5t": "t"}]})

    @property
    def keys_url(self) -> str:
        return f"{self.url}/discovery/keys"

    def _token(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        if headers.get("Metadata") != "true":
            error = {"error": "invalid_request", "error_description": "Required metadata header not specified"}
            return _text(json.dumps(error), 400, "application/json")
        resource = query.get("resource", [""])[0]
        now = int(time.time())
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{self.tenant}/", "iat": now, "nbf": now,
                  "exp": now + 86400, "aio": "E2ZgYJi", "appid": "c2a4b7a6-1111-4c1b-9d0e-6a0f1f2e3d4c",
                  "appidacr": "2", "idp": f"https://sts.windows.net/{self.tenant}/", "rh": "0.AAAA", "tid": self.tenant,
                  "uti": secrets.token_urlsafe(16), "ver": "1.0", **self.claims}
        token = sign(claims, self.key, alg="RS256")
        return _json({"access_token": token, "client_id": claims["appid"], "expires_in": "86399",
                      "expires_on": str(claims["exp"]), "ext_expires_in": "86399", "not_before": str(now),
                      "resource": resource, "token_type": "Bearer"})
