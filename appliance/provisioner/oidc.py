"""The OIDC provisioner: ID tokens of an OpenID provider (step-ca's ``OIDC`` type).

ca.json (step-ca's fields): ``clientID`` (required: the ID token audience),
``clientSecret`` (for the client's login flow; absent for a public client),
``configurationEndpoint`` (required: the discovery document), ``admins``,
``domains``, ``groups``, ``tenantID`` (replaces ``{tenantid}`` in the issuer),
``listenAddress`` (the client's loopback redirect), ``claims``, ``options``.

Our additions (documented in the README): ``acrValues``, the authentication
context classes accepted (a token without one of them is refused), and
``amrValues``, the authentication methods a token must all list (e.g. ``otp``).

Discovery and the JWK Set are fetched on first use, not at start, so that the CA
starts while the provider is down (its tokens then get 503); keys are cached and
fetched again when a token names a new key id (rotation).
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from appliance.errors import BadRequest, Unauthorized, Unavailable
from appliance.jose import UnverifiedToken
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions, SshSignOptions, TokenUse
from appliance.provisioner.checks import audience_includes, config_string, config_strings, replay_key
from appliance.provisioner.jwks import RemoteKeySet, fetch_json, verify_with
from appliance.provisioner.names import Names
from appliance.provisioner.ssh import REQUEST_FIELDS, REQUEST_TEMPLATE, SshRequestOptions
from appliance.provisioner.token import check_times, string_claim
from appliance.provisioner.types import PROVISIONER_TYPES


#: step-ca's ``sshUserRegex``: what a sanitized login name must look like.
_SSH_USER = re.compile(r"[a-z][-a-z0-9_]*")


def ssh_user_principals(email: str) -> tuple[str, ...]:
    """step-ca's default identity of an email for SSH: the local part as a login name
    (lowercased, dots dropped, other characters ``_``), the local part itself, the email."""
    local = email.rpartition("@")[0] if "@" in email else email
    login = "".join(c if c.isascii() and (c.isalnum() or c == "-") else "" if c == "." else "_"
                    for c in local.lower())
    if not _SSH_USER.fullmatch(login):
        raise Unauthorized(f"invalid principal '{login}' from email '{email}'")
    return tuple(dict.fromkeys(p for p in (login, local, email) if p))


class OIDCProvisioner(Provisioner):
    """step-ca's ``OIDC`` type."""

    kind = PROVISIONER_TYPES["OIDC"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.client_id = config_string(config, "clientID", where, required=True)
        self.configuration_endpoint = config_string(config, "configurationEndpoint", where, required=True)
        if urlsplit(self.configuration_endpoint).scheme not in ("https", "http"):
            raise BadRequest(f"{where}: 'configurationEndpoint' must be an http(s) URL")
        config_string(config, "clientSecret", where)
        config_string(config, "listenAddress", where)
        self.tenant_id = config_string(config, "tenantID", where)
        self.admins = frozenset(a.lower() for a in config_strings(config, "admins", where))
        self.domains = tuple(d.lower() for d in config_strings(config, "domains", where))
        self.groups = config_strings(config, "groups", where)
        self.acr_values = config_strings(config, "acrValues", where)
        self.amr_values = config_strings(config, "amrValues", where)
        self._lock = threading.Lock()
        self._issuer: str | None = None
        self._keys: RemoteKeySet | None = None

    @property
    def credential_id(self) -> str:
        """The client id, as step-ca writes it in the provisioner extension."""
        return self.client_id

    @property
    def token_id(self) -> str:
        return self.client_id

    def _discovered(self) -> tuple[str, RemoteKeySet]:
        """The issuer and key set of the discovery document (fetched once)."""
        with self._lock:
            if self._issuer is None or self._keys is None:
                document = fetch_json(self.configuration_endpoint)
                issuer = document.get("issuer") if isinstance(document, dict) else None
                jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
                if not isinstance(issuer, str) or not issuer or not isinstance(jwks_uri, str) or not jwks_uri:
                    raise Unavailable(f"{self.configuration_endpoint} lacks issuer or jwks_uri")
                self._issuer = issuer.replace("{tenantid}", self.tenant_id) if self.tenant_id else issuer
                self._keys = RemoteKeySet(jwks_uri, self.context.now)
            return self._issuer, self._keys

    def is_admin(self, email: str) -> bool:
        return bool(email) and email.lower() in self.admins

    def _authorize(self, token: UnverifiedToken) -> tuple[dict[str, Any], TokenUse]:
        issuer, keys = self._discovered()
        claims = verify_with(keys, token)
        if claims.get("iss") != issuer:
            raise Unauthorized("ID token issuer (iss) is not the provider's")
        if not audience_includes(claims, self.client_id):
            raise Unauthorized("ID token audience (aud) is not this provisioner's client id")
        azp = claims.get("azp")
        if azp not in (None, "", self.client_id):
            raise Unauthorized("ID token authorized party (azp) is not this provisioner's client id")
        times = check_times(claims, self.context.now(), max_lifetime=None)
        string_claim(claims, "sub")
        email = claims.get("email") or ""
        if not isinstance(email, str):
            raise Unauthorized("ID token 'email' claim must be a string")
        admin = self.is_admin(email)
        if self.domains and not admin:
            if not email:
                raise Unauthorized("ID token has no email, and the provisioner allows only some domains")
            if claims.get("email_verified") is False:
                raise Unauthorized("ID token email is not verified")
            if not any(email.lower().endswith("@" + domain) for domain in self.domains):
                raise Unauthorized("ID token email is not in an allowed domain")
        if self.groups:
            groups = claims.get("groups")
            if not isinstance(groups, list) or not set(self.groups) & {g for g in groups if isinstance(g, str)}:
                raise Unauthorized("ID token has no allowed group")
        if self.acr_values and claims.get("acr") not in self.acr_values:
            raise Unauthorized(f"ID token authentication context (acr) must be one of {', '.join(self.acr_values)}")
        amr = claims.get("amr")
        if self.amr_values and not (isinstance(amr, list) and set(self.amr_values) <= set(amr)):
            raise Unauthorized(f"ID token authentication methods (amr) must include {', '.join(self.amr_values)}")
        return claims, TokenUse(token_id=replay_key(token, claim=None), expires_at=times.expires_at)

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        """Admins: any name the request asks for. Others: their email and the
        ``iss#sub`` URI, as step-ca's default template gives them."""
        claims, use = self._authorize(token)
        email = claims.get("email") or ""
        if self.is_admin(email):
            return SignOptions(provisioner=self, subject="", names=Names(), token=use, any_name=True,
                               claims=claims)
        sans = [email] if email else []
        parts = urlsplit(claims["iss"])
        if parts.scheme:
            sans.append(urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, claims["sub"])))
        return SignOptions(provisioner=self, subject=claims["sub"], names=Names.parse(sans), token=use,
                           claims=claims)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """As step-ca: a user certificate keyed by the email for the principals of its local
        part and the email itself; admins get what the request names (type, key id and
        principals required), hosts included."""
        self.check_ssh_enabled()
        claims, use = self._authorize(token)
        email = claims.get("email") or ""
        if not email:
            raise Unauthorized("ID token has no email: SSH certificates need one")
        principals = ssh_user_principals(email)
        if self.is_admin(email):
            return SshSignOptions(provisioner=self, cert_type="user", key_id=email, principals=principals,
                                  token=use, pinned=SshRequestOptions(), claims=claims,
                                  required=frozenset(REQUEST_FIELDS), default_template=REQUEST_TEMPLATE)
        return SshSignOptions(provisioner=self, cert_type="user", key_id=email, principals=principals, token=use,
                              pinned=SshRequestOptions(cert_type="user", principals=principals), claims=claims)

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        """Only an admin's ID token revokes (any serial), as in step-ca."""
        claims, use = self._authorize(token)
        if not self.is_admin(claims.get("email") or ""):
            raise Unauthorized("cannot revoke with a non-admin ID token")
        return RevokeAuthorization(provisioner=self, serial="", token=use, any_serial=True)
