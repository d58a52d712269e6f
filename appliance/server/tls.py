"""TLS for the listeners: ca.json's ``tls`` section, the client CA names, and the verified client
certificate handed to the app through the ASGI TLS extension
(``scope["extensions"]["tls"]``), which uvicorn does not fill in itself."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from appliance.config.tls import TlsOptions
from appliance.errors import BadRequest
from appliance.server.openssl import set_client_ca_names, set_tls13_suites

_VERSIONS = {1.2: ssl.TLSVersion.TLSv1_2, 1.3: ssl.TLSVersion.TLSv1_3}


def server_ssl_context(cert_file: Path, key_file: Path, key_password: bytes, client_cas: Path,
                       options: TlsOptions | None = None) -> ssl.SSLContext:
    """ca.json's ``tls`` (versions and cipher suites, step-ca's defaults), client
    certificates optional but verified against ``client_cas`` (the roots and
    intermediates), which the certificate request names as acceptable issuers."""
    context = tls_context(options or TlsOptions())
    context.load_cert_chain(cert_file, key_file, password=key_password)
    context.load_verify_locations(cafile=client_cas)
    subjects = {c.subject for c in x509.load_pem_x509_certificates(client_cas.read_bytes())}
    set_client_ca_names(context, client_cas, len(subjects))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def tls_context(options: TlsOptions) -> ssl.SSLContext:
    """A server context with ``options`` applied and nothing loaded; ``BadRequest``
    when this OpenSSL cannot honour them (a suite it lacks)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[options.min_version]
    context.maximum_version = _VERSIONS[options.max_version]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    if options.min_version < 1.3:
        try:
            context.set_ciphers(options.openssl_tls12_ciphers)
        except ssl.SSLError:
            raise BadRequest(f"tls.cipherSuites: this OpenSSL offers none of {', '.join(options.cipher_suites)}") from None
        wanted = set(options.openssl_tls12_ciphers.split(":"))
        missing = wanted - {c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"}
        if missing:
            raise BadRequest(f"tls.cipherSuites: this OpenSSL does not offer {', '.join(sorted(missing))}")
    if options.tls13_suites:
        set_tls13_suites(context, options.tls13_suites)
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
