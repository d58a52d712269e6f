"""Challenge validation: http-01 and dns-01 (RFC 8555 section 8), tls-alpn-01 (RFC 8737);
dns-persist-01 is ``appliance.acme.persist``.

Each check is one attempt, bounded by a timeout, that raises :class:`AcmeError`
with the problem type the RFC names (``connection``, ``dns``, ``tls``,
``incorrectResponse``); ``appliance.acme.validation`` retries them off the
request path.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename
import httpx
from cryptography import x509

from appliance.acme.models import ChallengeType, Identifier
from appliance.acme.problems import AcmeError, Problem
from appliance.jose.b64 import b64encode

ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")
MAX_HTTP_BODY = 8192
MAX_REDIRECTS = 10


def key_authorization(token: str, account_thumbprint: str) -> str:
    return f"{token}.{account_thumbprint}"


def dns_txt_value(key_auth: str) -> str:
    """base64url(SHA-256(key authorization)), the TXT record of dns-01."""
    return b64encode(hashlib.sha256(key_auth.encode()).digest())


@dataclass(frozen=True)
class ValidationTarget:
    """Where validation connects: ports and the DNS server (``host:port``, "" = system)."""

    http_port: int = 80
    tls_alpn_port: int = 443
    resolver: str = ""
    timeout: float = 5.0

    def _resolver(self) -> dns.resolver.Resolver:
        if not self.resolver:
            resolver = dns.resolver.Resolver()
        else:
            host, _, port = self.resolver.rpartition(":")
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [host.strip("[]") or "127.0.0.1"]
            resolver.port = int(port or 53)
        resolver.lifetime = self.timeout
        return resolver

    def address(self, identifier: Identifier) -> str:
        """The IP address to connect to for an identifier (through the resolver when one is set)."""
        if identifier.type == "ip" or not self.resolver:
            return identifier.value
        for rdtype in ("A", "AAAA"):
            try:
                answer = self._resolver().resolve(identifier.value, rdtype)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as exc:
                raise AcmeError(Problem.DNS, f"looking up {identifier.value}: {exc}") from None
            return str(answer[0])
        raise AcmeError(Problem.DNS, f"no A or AAAA record for {identifier.value}")

    def find_txt(self, name: str, lifetime: float | None = None) -> list[str]:
        """The TXT records at ``name`` (their strings joined), none if the name has none;
        ``lifetime`` bounds the lookup (default: ``timeout``)."""
        try:
            answer = self._resolver().resolve(name, "TXT", lifetime=lifetime)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise AcmeError(Problem.DNS, f"looking up TXT {name}: {exc}") from None
        return [b"".join(record.strings).decode(errors="replace") for record in answer]

    def txt_records(self, name: str) -> list[str]:
        """The TXT records at ``name``; a ``dns`` problem if it has none."""
        records = self.find_txt(name)
        if not records:
            raise AcmeError(Problem.DNS, f"no TXT record at {name}")
        return records


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def validate_http01(target: ValidationTarget, identifier: Identifier, token: str, key_auth: str) -> None:
    address = target.address(identifier)
    url = f"http://{_host(address)}:{target.http_port}/.well-known/acme-challenge/{token}"
    host_header = _host(identifier.value) if identifier.type == "ip" else identifier.value
    try:
        with httpx.Client(timeout=target.timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                          verify=False, trust_env=False) as client:
            with client.stream("GET", url, headers={"Host": host_header}) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_HTTP_BODY:
                        break
    except httpx.HTTPError as exc:
        raise AcmeError(Problem.CONNECTION, f"fetching {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise AcmeError(Problem.INCORRECT_RESPONSE, f"{url} answered HTTP {response.status_code}")
    if body.decode(errors="replace").strip() != key_auth:
        raise AcmeError(Problem.INCORRECT_RESPONSE, f"{url} did not serve the key authorization")


def validate_dns01(target: ValidationTarget, identifier: Identifier, token: str, key_auth: str) -> None:
    name = f"_acme-challenge.{identifier.value.removeprefix('*.')}"
    if dns_txt_value(key_auth) not in target.txt_records(name):
        raise AcmeError(Problem.INCORRECT_RESPONSE, f"no TXT record at {name} matches the key authorization")


def _tls_alpn_certificate(target: ValidationTarget, identifier: Identifier) -> x509.Certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([ACME_TLS_ALPN])
    server_name = (dns.reversename.from_address(identifier.value).to_text(omit_final_dot=True)
                   if identifier.type == "ip" else identifier.value)
    address = target.address(identifier)
    try:
        with socket.create_connection((address, target.tls_alpn_port), timeout=target.timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                if tls.selected_alpn_protocol() != ACME_TLS_ALPN:
                    raise AcmeError(Problem.TLS, f"{address}:{target.tls_alpn_port} did not negotiate {ACME_TLS_ALPN}")
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise AcmeError(Problem.CONNECTION, f"TLS to {address}:{target.tls_alpn_port}: {exc}") from None
    if not der:
        raise AcmeError(Problem.TLS, "the server sent no certificate")
    return x509.load_der_x509_certificate(der)


def validate_tls_alpn01(target: ValidationTarget, identifier: Identifier, token: str, key_auth: str) -> None:
    certificate = _tls_alpn_certificate(target, identifier)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except (x509.ExtensionNotFound, ValueError):
        raise AcmeError(Problem.INCORRECT_RESPONSE, "the certificate lacks a SAN or the acmeIdentifier extension") from None
    expected_san: list[object] = ([ipaddress.ip_address(identifier.value)] if identifier.type == "ip"
                                  else [identifier.value.lower()])
    names: list[object] = [*san.get_values_for_type(x509.IPAddress),
                           *(n.lower() for n in san.get_values_for_type(x509.DNSName))]
    if names != expected_san or len(list(san)) != 1:
        raise AcmeError(Problem.INCORRECT_RESPONSE, f"the certificate's SAN must be exactly {identifier.value}")
    digest = hashlib.sha256(key_auth.encode()).digest()
    value = extension.value.value if isinstance(extension.value, x509.UnrecognizedExtension) else b""
    if not extension.critical or value != b"\x04\x20" + digest:
        raise AcmeError(Problem.INCORRECT_RESPONSE,
                        "the acmeIdentifier extension is not critical or does not hold the key authorization hash")


VALIDATORS = {
    ChallengeType.HTTP_01: validate_http01,
    ChallengeType.DNS_01: validate_dns01,
    ChallengeType.TLS_ALPN_01: validate_tls_alpn01,
}
