"""The OIDC login of ``step ca token`` with an OIDC provisioner: the authorization
code flow with PKCE (RFC 7636, S256) and a loopback redirect (RFC 8252), or the
device authorization grant (RFC 8628) where there is no browser; the ID token it
yields is the one-time token for the CA."""

from __future__ import annotations

import base64
import hashlib
import queue
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from appliance.errors import BadRequest, Unauthorized, Unavailable

LOGIN_TIMEOUT = 300.0
DEFAULT_LISTEN = "127.0.0.1:0"


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _json(client: httpx.Client, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach {url}: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else response.status_code
        raise Unauthorized(f"{url} refused the login: {detail}")
    return body


class _Callback:
    """A loopback server that takes the one redirect carrying the code."""

    def __init__(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        results: queue.Queue[dict[str, list[str]]] = queue.Queue(maxsize=1)
        self.results = results

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                body = b"You are logged in: you may close this window."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if not results.full():
                    results.put(query)

            def log_message(self, *args: Any) -> None:
                pass

        try:
            self.httpd = ThreadingHTTPServer((host or "127.0.0.1", int(port or 0)), Handler)
        except (OSError, ValueError) as exc:
            raise BadRequest(f"cannot listen on {listen} for the login redirect: {exc}") from None
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def redirect_uri(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/callback"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def oidc_login(provisioner: dict[str, Any], *, open_browser: Callable[[str], Any],
               timeout: float = LOGIN_TIMEOUT) -> str:
    """Log in at the provisioner's OpenID provider; the ID token. ``open_browser``
    shows the user the authorization URL (a browser, or a test's user agent)."""
    client_id, endpoint = provisioner.get("clientID"), provisioner.get("configurationEndpoint")
    if not isinstance(client_id, str) or not isinstance(endpoint, str):
        raise BadRequest("the OIDC provisioner has no clientID or configurationEndpoint")
    with httpx.Client(timeout=10) as client:
        discovery = _json(client, "GET", endpoint)
        authorize, token_url = discovery.get("authorization_endpoint"), discovery.get("token_endpoint")
        if not isinstance(authorize, str) or not isinstance(token_url, str):
            raise Unavailable(f"{endpoint} has no authorization or token endpoint")
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        callback = _Callback(str(provisioner.get("listenAddress") or DEFAULT_LISTEN))
        try:
            query = {"client_id": client_id, "redirect_uri": callback.redirect_uri, "response_type": "code",
                     "scope": "openid email", "code_challenge": challenge, "code_challenge_method": "S256",
                     "state": state, "nonce": nonce}
            open_browser(f"{authorize}?{urlencode(query)}")
            try:
                answer = callback.results.get(timeout=timeout)
            except queue.Empty:
                raise Unauthorized("no login came back before the timeout") from None
        finally:
            callback.close()
        if answer.get("state") != [state]:
            raise Unauthorized("the login redirect carries another state: refused")
        if "code" not in answer:
            raise Unauthorized(f"the provider refused the login: {answer.get('error_description') or answer.get('error')}")
        form = {"grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": callback.redirect_uri,
                "code_verifier": verifier, "client_id": client_id}
        secret = provisioner.get("clientSecret")
        auth = (client_id, secret) if isinstance(secret, str) and secret else None
        if auth is not None:
            del form["client_id"]  # client_secret_basic carries it
        tokens = _json(client, "POST", token_url, data=form, auth=auth)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise Unauthorized("the provider returned no ID token")
    return id_token


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def oidc_device_login(provisioner: dict[str, Any], *, show: Callable[[str, str], Any],
                      sleep: Callable[[float], Any] = time.sleep) -> str:
    """Log in by device code (RFC 8628, ``step ca token --console``): ``show`` tells the user
    where to go and which code to confirm; the token endpoint is polled meanwhile."""
    client_id, endpoint = provisioner.get("clientID"), provisioner.get("configurationEndpoint")
    if not isinstance(client_id, str) or not isinstance(endpoint, str):
        raise BadRequest("the OIDC provisioner has no clientID or configurationEndpoint")
    secret = provisioner.get("clientSecret")
    auth = (client_id, secret) if isinstance(secret, str) and secret else None
    identity = {} if auth else {"client_id": client_id}
    with httpx.Client(timeout=10) as client:
        discovery = _json(client, "GET", endpoint)
        device_url, token_url = discovery.get("device_authorization_endpoint"), discovery.get("token_endpoint")
        if not isinstance(device_url, str) or not isinstance(token_url, str):
            raise BadRequest(f"the OpenID provider at {endpoint} offers no device flow")
        grant = _json(client, "POST", device_url, data={**identity, "scope": "openid email"}, auth=auth)
        device_code, user_code = grant.get("device_code"), grant.get("user_code")
        if not isinstance(device_code, str) or not isinstance(user_code, str):
            raise Unavailable(f"{device_url} gave no device or user code")
        show(str(grant.get("verification_uri_complete") or grant.get("verification_uri")), user_code)
        interval, waited, expires = float(grant.get("interval") or 5), 0.0, float(grant.get("expires_in") or 600)
        form = {**identity, "grant_type": DEVICE_GRANT, "device_code": device_code}
        while waited <= expires:
            try:
                response = client.post(token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
            except httpx.HTTPError as exc:
                raise Unavailable(f"cannot reach {token_url}: {type(exc).__name__}") from None
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if response.status_code == 200 and isinstance(body.get("id_token"), str):
                return str(body["id_token"])
            error = body.get("error")
            if error not in ("authorization_pending", "slow_down"):
                raise Unauthorized(f"the provider refused the login: {body.get('error_description') or error}")
            interval += 5 if error == "slow_down" else 0
            sleep(interval)
            waited += interval
    raise Unauthorized("the device code expired before the login was confirmed")
