"""The client certificate of a request, from the ASGI TLS extension the server fills in."""

from __future__ import annotations

from cryptography import x509
from starlette.types import Scope


def peer_certificate(scope: Scope) -> x509.Certificate | None:
    """The client certificate verified during the handshake, if one was sent."""
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return x509.load_pem_x509_certificate(chain[0].encode()) if chain else None
