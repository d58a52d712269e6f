"""Tiny challenge responders on loopback: an authoritative DNS server (A records
to 127.0.0.1 for every name, TXT records on demand), an http-01 server and a
tls-alpn-01 server (RFC 8737 certificate with the acmeIdentifier extension)."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class DnsServer:
    """UDP on 127.0.0.1: A -> 127.0.0.1 for any name, TXT from ``txt``, else NXDOMAIN."""

    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= 0x0400  # authoritative
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if question.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text(question.name, 5, "IN", "A", "127.0.0.1"))
        elif question.rdtype == dns.rdatatype.TXT and name in self.txt:
            values = [f'"{v}"' for v in self.txt[name]]
            reply.answer.append(dns.rrset.from_text_list(question.name, 5, "IN", "TXT", values))
        elif question.rdtype == dns.rdatatype.TXT:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            self.sock.sendto(self._answer(dns.message.from_wire(data)).to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


class HttpServer:
    """Serves ``tokens[token]`` at ``/.well-known/acme-challenge/<token>``, after ``delay`` seconds."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.requests: list[str] = []
        self.delay = 0.0
        tokens, requests, responder = self.tokens, self.requests, self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                requests.append(self.path)
                time.sleep(responder.delay)
                token = self.path.rsplit("/", 1)[-1]
                body = tokens.get(token, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alpn_certificate(name: str, key_auth: str, *, critical: bool = True) -> tuple[bytes, bytes]:
    """RFC 8737's self-signed certificate: SAN = name, acmeIdentifier = SHA-256(key authorization)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    digest = hashlib.sha256(key_auth.encode()).digest()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"), b"\x04\x20" + digest),
                       critical=critical)
        .sign(key, hashes.SHA256())
    )
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


class TlsAlpnServer:
    """Answers TLS handshakes with ALPN acme-tls/1 and the certificate set by ``serve``."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.context: ssl.SSLContext | None = None
        self.server_names: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def serve(self, name: str, key_auth: str, *, critical: bool = True) -> None:
        cert, key = alpn_certificate(name, key_auth, critical=critical)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "c.pem").write_bytes(cert)
            (Path(tmp) / "k.pem").write_bytes(key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(Path(tmp) / "c.pem", Path(tmp) / "k.pem")
        context.set_alpn_protocols(["acme-tls/1"])
        context.sni_callback = lambda sock, server_name, ctx: self.server_names.append(server_name) and None
        self.context = context

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()
