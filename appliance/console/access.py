"""Who is visiting the console, and the CSRF check of its forms.

A visitor is identified by the client certificate verified during the TLS handshake
(issued by this CA's roots or intermediates) and not revoked: ``console.admins`` may
revoke, ``console.viewers`` may look. Without a certificate, a session from a login
through the OpenID provider (``console.oidc``) lets its admin or viewer in, and
``publicView`` anyone. Forms carry a token equal to a ``__Host-`` cookie (SameSite=Strict) that
a cross-site page can neither read nor set; a POST whose token differs, or whose
``Origin`` is another site's, changes nothing."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from starlette.requests import Request
from starlette.types import Scope

from appliance.authority.interfaces import AuthorityInterface
from appliance.config.console import ConsoleOptions
from appliance.errors import Forbidden, Unauthorized

ADMIN, VIEWER, PUBLIC = "admin", "viewer", "public"
MTLS, OIDC = "mtls", "oidc"
CSRF_COOKIE = "__Host-console-csrf"
CSRF_FIELD = "csrf_token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")

PeerCertificate = Callable[[Scope], "x509.Certificate | None"]


@dataclass(frozen=True)
class Visitor:
    """Who is looking: a name to show and a role (and the client certificate's subject and serial)."""

    name: str
    role: str
    subject: str = ""
    serial: str = ""
    method: str = ""  # how they were let in: MTLS, OIDC, or "" (public view)

    @property
    def may_revoke(self) -> bool:
        return self.role == ADMIN


def certificate_names(certificate: x509.Certificate) -> list[str]:
    """The common names and SANs (DNS, email, URI, IP) of a certificate, lower case."""
    names = [str(a.value).lower() for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return names
    for kind in (x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier, x509.IPAddress):
        names.extend(str(value).lower() for value in sans.get_values_for_type(kind))
    return names


def identify(request: Request, options: ConsoleOptions, authority: AuthorityInterface,
             peer: PeerCertificate, logged_in: Callable[[Request], Visitor | None]) -> Visitor:
    """The visitor; ``Unauthorized`` / ``Forbidden`` (nothing shown) when they may not look.
    ``logged_in``: the visitor of the request's OpenID login session, if any."""
    certificate = peer(request.scope)
    if certificate is None:
        session = logged_in(request)
        if session is not None:
            return session
        if options.public_view:
            return Visitor("anonymous", PUBLIC)
        raise Unauthorized("the console needs a client certificate (mTLS) named in console.admins or console.viewers"
                           + (", or a login through the OpenID provider" if options.oidc else ""))
    names = certificate_names(certificate)
    label = names[0] if names else certificate.subject.rfc4514_string()
    if authority.is_revoked(str(certificate.serial_number)):
        raise Forbidden(f"the client certificate of {label} is revoked")
    subject, serial = certificate.subject.rfc4514_string(), str(certificate.serial_number)
    if options.admins.intersection(names):
        return Visitor(label, ADMIN, subject, serial, MTLS)
    if options.viewers.intersection(names):
        return Visitor(label, VIEWER, subject, serial, MTLS)
    if options.public_view:
        return Visitor(label, PUBLIC, subject, serial)
    raise Forbidden(f"{label} is not named in console.admins or console.viewers")


def cookie_token(request: Request, name: str) -> str:
    """A cookie's random token ("" when absent or not shaped like one)."""
    value = request.cookies.get(name, "")
    return value if _TOKEN.fullmatch(value) else ""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> tuple[str, bool]:
    """The visitor's CSRF token (from the cookie, or a new one) and whether the cookie must be set."""
    current = cookie_token(request, CSRF_COOKIE)
    return (current, False) if current else (new_token(), True)


def check_csrf(request: Request, submitted: str) -> None:
    """``Forbidden`` unless the form's token equals the cookie's and the request comes from this site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"https://{request.headers.get('host', '')}":
        raise Forbidden("cross-site form submission refused")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("cross-site form submission refused")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not _TOKEN.fullmatch(cookie) or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")
