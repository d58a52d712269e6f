"""Logging in to the console through an OpenID provider (``console.oidc``): the
authorization code flow with PKCE (S256), a ``state`` and a ``nonce``; the ID token
is verified against the provider's published keys (discovery's ``jwks_uri``, the same
cache and rotation as the OIDC provisioner), its issuer, audience, authorized party,
times and nonce. Who may log in as what is the configuration's (emails or subjects,
groups). Discovery is fetched on first use, so the CA starts while the provider is
down (logins are then refused with 503)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode

import httpx

from appliance.config.console import OidcLoginOptions
from appliance.console.access import ADMIN, VIEWER
from appliance.errors import Forbidden, Unauthorized, Unavailable
from appliance.jose import UnverifiedToken
from appliance.provisioner.checks import audience_includes
from appliance.provisioner.jwks import FETCH_TIMEOUT, RemoteKeySet, fetch_json, verify_with
from appliance.provisioner.token import check_times


@dataclass(frozen=True)
class PendingLogin:
    """What the callback checks: kept server-side, found by the browser's login cookie."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> PendingLogin:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        """RFC 7636 S256."""
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Identity:
    """Who the provider says logged in."""

    issuer: str
    subject: str
    email: str
    groups: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.email or self.subject


@dataclass(frozen=True)
class _Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    keys: RemoteKeySet


class OidcLogin:
    """One configured provider and client; thread-safe."""

    def __init__(self, options: OidcLoginOptions, now: Callable[[], datetime.datetime]) -> None:
        self.options = options
        self._now = now
        self._lock = threading.Lock()
        self._provider: _Provider | None = None

    def _discovered(self) -> _Provider:
        with self._lock:
            if self._provider is None:
                document = fetch_json(self.options.configuration_endpoint)
                names = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                values = [document.get(name) if isinstance(document, dict) else None for name in names]
                issuer, authorize, token, jwks = (v if isinstance(v, str) else "" for v in values)
                if not (issuer and authorize and token and jwks):
                    raise Unavailable(f"{self.options.configuration_endpoint} lacks one of {', '.join(names)}")
                self._provider = _Provider(issuer, authorize, token, RemoteKeySet(jwks, self._now))
            return self._provider

    @property
    def scope(self) -> str:
        groups = self.options.admin_groups or self.options.viewer_groups
        return "openid email" + (" groups" if groups else "")

    def authorization_url(self, pending: PendingLogin) -> str:
        """Where to send the browser to log in."""
        query = {"response_type": "code", "client_id": self.options.client_id,
                 "redirect_uri": self.options.redirect_uri, "scope": self.scope, "state": pending.state,
                 "nonce": pending.nonce, "code_challenge": pending.challenge, "code_challenge_method": "S256"}
        endpoint = self._discovered().authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    def finish(self, pending: PendingLogin, state: str, code: str) -> Identity:
        """The identity of a callback's code once its state matches and its ID token verifies."""
        if not hmac.compare_digest(pending.state.encode(), state.encode()):
            raise Unauthorized("the login's state does not match: start the login again")
        provider = self._discovered()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.options.redirect_uri,
                "code_verifier": pending.verifier, "client_id": self.options.client_id}
        auth = (self.options.client_id, self.options.client_secret) if self.options.client_secret else None
        try:
            response = httpx.post(provider.token_endpoint, data=form, auth=auth, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach the provider's token endpoint: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise Unauthorized(f"the provider refused the login's code (HTTP {response.status_code})")
        try:
            id_token = response.json().get("id_token")
        except (ValueError, AttributeError):
            id_token = None
        if not isinstance(id_token, str):
            raise Unauthorized("the provider's token response has no ID token")
        return self._verify(provider, UnverifiedToken.parse(id_token), pending.nonce)

    def _verify(self, provider: _Provider, token: UnverifiedToken, nonce: str) -> Identity:
        claims = verify_with(provider.keys, token)
        if claims.get("iss") != provider.issuer:
            raise Unauthorized("ID token issuer (iss) is not the provider's")
        if not audience_includes(claims, self.options.client_id):
            raise Unauthorized("ID token audience (aud) is not the console's client id")
        if claims.get("azp") not in (None, "", self.options.client_id):
            raise Unauthorized("ID token authorized party (azp) is not the console's client id")
        check_times(claims, self._now(), max_lifetime=None)
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"].encode(),
                                                                              nonce.encode()):
            raise Unauthorized("ID token nonce does not match the login's")
        subject, email, groups = claims.get("sub"), claims.get("email") or "", claims.get("groups") or []
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("ID token has no subject (sub)")
        if not isinstance(email, str) or claims.get("email_verified") is False:
            email = ""  # an unverified email names nobody
        groups = tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()
        return Identity(provider.issuer, subject, email.lower(), groups)

    def role(self, identity: Identity) -> str:
        """``ADMIN`` or ``VIEWER``; ``Forbidden`` for anyone the configuration does not name."""
        names = {identity.subject.lower(), identity.email} - {""}
        options = self.options
        if names & options.admins or set(identity.groups) & options.admin_groups:
            return ADMIN
        if names & options.viewers or set(identity.groups) & options.viewer_groups:
            return VIEWER
        raise Forbidden(f"{identity.name} is not named in console.oidc (admins, adminGroups, viewers, viewerGroups)")


def identity_data(identity: Identity) -> dict[str, Any]:
    """An identity as stored with its session."""
    return {"iss": identity.issuer, "sub": identity.subject, "email": identity.email, "groups": list(identity.groups)}


def stored_identity(data: dict[str, Any]) -> Identity:
    return Identity(str(data["iss"]), str(data["sub"]), str(data["email"]), tuple(data["groups"]))
