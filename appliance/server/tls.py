"""TLS for the listeners: step-ca's cipher defaults, and the verified client
certificate handed to the app through the ASGI TLS extension
(``scope["extensions"]["tls"]``), which uvicorn does not fill in itself."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# step-ca's defaults: ECDHE only, AEAD only (TLS 1.3 suites are all AEAD).
TLS_CIPHERS = ":".join((
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
))


def server_ssl_context(cert_file: Path, key_file: Path, key_password: bytes, client_cas: Path) -> ssl.SSLContext:
    """TLS 1.2+, step-ca's ciphers, client certificates optional but verified
    against ``client_cas`` (the root; intermediates there help chain building)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS_CIPHERS)
    context.load_cert_chain(cert_file, key_file, password=key_password)
    context.load_verify_locations(cafile=client_cas)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension for one connection (client chain as PEM, leaf only)."""
    peer = ssl_object.getpeercert(binary_form=True)
    return {
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(peer)] if peer else [],
        "client_cert_error": None,
        "tls_version": ssl_object.version(),
        "cipher_suite": (ssl_object.cipher() or ("",))[0],
    }


class _WithTLSExtension:
    """Adds one connection's TLS extension to every request scope on it."""

    def __init__(self, app: ASGIApp, extension: dict[str, Any]) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})["tls"] = self.extension
        await self.app(scope, receive, send)


class TLSHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (a C parser), filling in the ASGI TLS extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.app = _WithTLSExtension(self.app, tls_extension(ssl_object))
