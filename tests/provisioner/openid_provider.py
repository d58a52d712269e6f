"""A real OpenID provider for the OIDC tests: panva's certified ``oidc-provider``
(npm, installed by ``scripts/install.sh --test`` with ``npm ci``) run by Node.js,
and a headless user agent that logs in through it (authorization code + PKCE)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from appliance.jose import generate_jwk
from tests.e2e.harness import free_port

FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
SERVER = Path(__file__).parent / "oidc_provider" / "server.mjs"
START_TIMEOUT = 30.0


def signing_key(kid: str) -> dict[str, Any]:
    """A private RSA JWK for the provider to sign ID tokens with."""
    key = generate_jwk("RSA").export(private_key=True, as_dict=True)
    return {**key, "kid": kid, "use": "sig", "alg": "RS256"}


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class OpenIDProvider:
    """``node server.mjs`` with a config file; ``restart`` rotates its signing keys."""

    directory: Path
    clients: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    acr_values: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def configuration_endpoint(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> OpenIDProvider:
        if not (SERVER.parent / "node_modules" / "oidc-provider").is_dir():
            pytest.fail("oidc-provider is not installed: run scripts/install.sh --test (npm ci)")
        config = self.directory / f"provider-{self.port}.json"
        config.write_text(json.dumps({"issuer": self.issuer, "port": self.port, "clients": self.clients,
                                      "keys": self.keys, "accounts": self.accounts, "acrValues": self.acr_values}))
        log = (self.directory / "provider.log").open("ab")
        self.process = subprocess.Popen(["node", str(SERVER), str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "NODE_ENV": "test"})
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"oidc-provider exited:\n{(self.directory / 'provider.log').read_text()}")
            try:
                if httpx.get(self.configuration_endpoint, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail("oidc-provider did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self, keys: list[dict[str, Any]]) -> None:
        """Rotate: the same issuer and port, new signing keys."""
        self.stop()
        self.keys = keys
        self.start()

    def authorize_url(self, client_id: str, redirect_uri: str, challenge: str, *, state: str = "s",
                      scope: str = "openid email groups", acr_values: str = "urn:mfa urn:pwd") -> str:
        query = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope,
                 "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
                 "nonce": secrets.token_hex(8)}
        if acr_values:
            query["acr_values"] = acr_values
        return f"{self.issuer}/auth?{urlencode(query)}"

    def browse(self, url: str, login: str, *, acr: str = "", amr: str = "") -> str:
        """A user agent: follow ``url`` through login and consent; the final redirect
        (to the client's redirect_uri), not followed."""
        with httpx.Client(timeout=10) as agent:
            for _ in range(12):
                if not url.startswith(self.issuer):
                    return url
                response = agent.get(url)
                if response.status_code not in (302, 303):
                    raise AssertionError(f"{url}: {response.status_code} {response.text[:300]}")
                url = urljoin(url, response.headers["location"])
                path = urlsplit(url).path
                if path.startswith("/interaction/") and not path.endswith("/headless"):
                    url = f"{self.issuer}{path}/headless?{urlencode({'login': login, 'acr': acr, 'amr': amr})}"
        raise AssertionError("too many redirects")

    def confirm_device(self, url: str, login: str) -> str:
        """A user agent at the device flow's verification URL: submit its forms (the page's
        script would), confirm the code, log in; the text of the last page."""
        with httpx.Client(timeout=10) as agent:
            response = agent.get(url)
            for _ in range(16):
                if response.status_code in (302, 303):
                    target = urljoin(str(response.url), response.headers["location"])
                    path = urlsplit(target).path
                    if path.startswith("/interaction/") and not path.endswith("/headless"):
                        target = f"{self.issuer}{path}/headless?{urlencode({'login': login})}"
                    response = agent.get(target)
                    continue
                form = FORM.search(response.text)
                if response.status_code != 200 or form is None:
                    return response.text
                fields = dict(HIDDEN.findall(form.group(2)))
                if "op.deviceConfirmForm" in response.text:
                    fields["confirm"] = "yes"
                response = agent.post(urljoin(str(response.url), form.group(1)), data=fields)
        raise AssertionError("the device confirmation did not finish")

    def id_token(self, client: dict[str, Any], login: str, *, acr: str = "", amr: str = "") -> str:
        """An ID token for ``login`` from the code flow with PKCE (as a CLI would get it)."""
        verifier, challenge = pkce_pair()
        redirect_uri = client["redirect_uris"][0]
        final = self.browse(self.authorize_url(client["client_id"], redirect_uri, challenge), login, acr=acr, amr=amr)
        code = parse_qs(urlsplit(final).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier, "client_id": client["client_id"]}
        auth = (client["client_id"], client["client_secret"]) if "client_secret" in client else None
        if auth is not None:
            form.pop("client_id")
        response = httpx.post(f"{self.issuer}/token", data=form, auth=auth, timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["id_token"])
