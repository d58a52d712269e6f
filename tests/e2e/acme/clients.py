"""certbot, lego and dehydrated, run unchanged as their users run them, against
the CA's ACME directory on loopback. Each client keeps its state (account,
certificates, logs) in its own directory; the DNS hooks go through
pebble-challtestsrv (``hook.py``)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shlex
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

from cryptography import x509

HOOK = Path(__file__).with_name("hook.py")
CERTBOT = Path(sys.executable).parent / "certbot"
RUN_TIMEOUT = 120.0
HTTP_01, DNS_01, TLS_ALPN_01 = "http-01", "dns-01", "tls-alpn-01"


@dataclass(frozen=True)
class Endpoint:
    """What a client is told about the CA: its ACME directory, the root to trust,
    the loopback ports the CA validates on and the DNS server's management URL."""

    directory: str
    root: Path
    http_port: int
    tls_port: int
    dns_resolver: str
    dns_management: str


@dataclass(frozen=True)
class Issued:
    """A certificate a client obtained (for ``names`` with ``challenge``): the leaf
    and the chain it installed next to it."""

    names: tuple[str, ...]
    challenge: str
    cert: Path
    fullchain: Path

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())


class ClientFailed(AssertionError):
    """A client exited non-zero; the message holds its command line and output."""


class AcmeClient(ABC):
    """One ACME client with its own state directory."""

    name: ClassVar[str]
    challenges: ClassVar[frozenset[str]] = frozenset({HTTP_01, DNS_01})

    def __init__(self, endpoint: Endpoint, directory: Path) -> None:
        self.endpoint = endpoint
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def register(self, eab: tuple[str, str] | None = None) -> str:
        """Create the ACME account (with an external account binding ``(kid, hmac)``); its URL."""

    @abstractmethod
    def obtain(self, names: tuple[str, ...], challenge: str) -> Issued:
        """A certificate for ``names``, proving control with ``challenge``."""

    @abstractmethod
    def renew(self, issued: Issued) -> None:
        """Renew now (forced), as the client's renewal command does; ``issued``'s files are replaced."""

    @abstractmethod
    def revoke(self, issued: Issued) -> x509.ReasonFlags | None:
        """Revoke with the account key; the reason the client sent (None: unspecified)."""

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> str:
        """Run the client, bounded in time; its output, or ClientFailed with it."""
        command = [str(a) for a in args]
        environment = {**os.environ, "CHALLTESTSRV_URL": self.endpoint.dns_management, **(env or {})}
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                                    env=environment, cwd=self.directory, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ClientFailed(f"{shlex.join(command)} timed out:\n{exc.stdout}\n{exc.stderr}") from None
        if result.returncode != 0:
            raise ClientFailed(f"{shlex.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result.stdout + result.stderr

    def _account_url(self, pattern: str, *keys: str) -> str:
        (path,) = self.directory.glob(pattern)
        value: Any = json.loads(path.read_text())
        for key in keys:
            value = value[key]
        return str(value)


class Certbot(AcmeClient):
    """certbot from PyPI: ``--standalone`` for http-01, ``--manual`` with hooks for dns-01."""

    name = "certbot"

    def _certbot(self, *args: str) -> str:
        return self.run(
            CERTBOT, *args, "--server", self.endpoint.directory, "--config-dir", self.directory / "config",
            "--work-dir", self.directory / "work", "--logs-dir", self.directory / "logs", "--non-interactive",
            env={"REQUESTS_CA_BUNDLE": str(self.endpoint.root)},
        )

    def register(self, eab: tuple[str, str] | None = None) -> str:
        # "=": a base64url key may start with "-", which argparse would take for an option
        binding = (f"--eab-kid={eab[0]}", f"--eab-hmac-key={eab[1]}") if eab else ()
        self._certbot("register", "--agree-tos", "--register-unsafely-without-email", *binding)
        return self._account_url("config/accounts/**/regr.json", "uri")

    def _challenge_flags(self, challenge: str) -> tuple[str, ...]:
        if challenge == HTTP_01:
            return ("--standalone", "--preferred-challenges", "http", "--http-01-address", "127.0.0.1",
                    "--http-01-port", str(self.endpoint.http_port))
        hook = f"{shlex.quote(sys.executable)} {shlex.quote(str(HOOK))}"
        return ("--manual", "--preferred-challenges", "dns", "--manual-auth-hook", f"{hook} present",
                "--manual-cleanup-hook", f"{hook} cleanup")

    def obtain(self, names: tuple[str, ...], challenge: str, profile: str | None = None) -> Issued:
        """``profile``: asked for with ``--required-profile`` (the order fails without it)."""
        domains = [arg for name in names for arg in ("-d", name)]
        profiled = ("--required-profile", profile) if profile else ()
        self._certbot("certonly", "--cert-name", names[0], *self._challenge_flags(challenge), *profiled, *domains)
        live = self.directory / "config" / "live" / names[0]
        return Issued(names, challenge, live / "cert.pem", live / "fullchain.pem")

    def renew(self, issued: Issued) -> None:
        self._certbot("renew", "--cert-name", issued.names[0], "--force-renewal", "--no-random-sleep-on-renew")

    def revoke(self, issued: Issued) -> x509.ReasonFlags | None:
        self._certbot("revoke", "--cert-name", issued.names[0], "--reason", "keycompromise",
                      "--no-delete-after-revoke")
        return x509.ReasonFlags.key_compromise


class Lego(AcmeClient):
    """lego from Debian: its own http-01 and tls-alpn-01 servers, ``--dns exec`` with the hook."""

    name = "lego"
    challenges = frozenset({HTTP_01, DNS_01, TLS_ALPN_01})
    email = "admin@example.org"

    def __init__(self, endpoint: Endpoint, directory: Path) -> None:
        super().__init__(endpoint, directory)
        self.eab: tuple[str, str] | None = None

    def _lego(self, names: tuple[str, ...], challenge: str, *command: str) -> str:
        flags = {
            HTTP_01: ("--http", "--http.port", f"127.0.0.1:{self.endpoint.http_port}"),
            TLS_ALPN_01: ("--tls", "--tls.port", f"127.0.0.1:{self.endpoint.tls_port}"),
            DNS_01: ("--dns", "exec", "--dns.resolvers", self.endpoint.dns_resolver, "--dns.disable-cp"),
        }[challenge]
        binding = ("--eab", "--kid", self.eab[0], "--hmac", self.eab[1]) if self.eab else ()
        return self.run(
            "lego", "--server", self.endpoint.directory, "--accept-tos", "--email", self.email,
            "--path", self.directory, *binding, *[arg for name in names for arg in ("--domains", name)],
            *flags, *command,
            env={"LEGO_CA_CERTIFICATES": str(self.endpoint.root), "EXEC_PATH": str(HOOK),
                 "EXEC_POLLING_INTERVAL": "1", "EXEC_PROPAGATION_TIMEOUT": "30",
                 "EXEC_SEQUENCE_INTERVAL": "1"},
        )

    def register(self, eab: tuple[str, str] | None = None) -> str:
        """lego registers with its first order (it has no register-only command). Where
        the CA requires EAB, lego wants the binding flags on every later command too."""
        self.eab = eab
        self._lego(("register.lego.test",), HTTP_01, "run")
        return self._account_url("accounts/**/account.json", "registration", "uri")

    def obtain(self, names: tuple[str, ...], challenge: str) -> Issued:
        """The leaf and its issuer in one bundle file (``--no-bundle`` not given), named after the first name."""
        self._lego(names, challenge, "run")
        bundle = self.directory / "certificates" / f"{names[0].replace('*', '_')}.crt"
        return Issued(names, challenge, bundle, bundle)

    def renew(self, issued: Issued) -> None:
        self._lego(issued.names, issued.challenge, "renew", "--days", "3650", "--no-random-sleep")

    def revoke(self, issued: Issued) -> x509.ReasonFlags | None:
        self._lego(issued.names, issued.challenge, "revoke", "--keep", "--reason", "1")
        return x509.ReasonFlags.key_compromise


class Dehydrated(AcmeClient):
    """dehydrated from Debian: a config file, http-01 from a WELLKNOWN directory
    served by a plain web server on the validation port, dns-01 with the hook."""

    name = "dehydrated"

    def __init__(self, endpoint: Endpoint, directory: Path) -> None:
        super().__init__(endpoint, directory)
        self.webroot = directory / "webroot"
        self.wellknown = self.webroot / ".well-known" / "acme-challenge"
        self.wellknown.mkdir(parents=True, exist_ok=True)
        self.config = directory / "config"
        self._configure(CA=endpoint.directory, BASEDIR=directory, WELLKNOWN=self.wellknown, HOOK=HOOK,
                        CURL_OPTS=f"--cacert {endpoint.root} --max-time 30", KEY_ALGO="prime256v1", RENEW_DAYS=30)

    def _configure(self, **settings: object) -> None:
        """Add ``KEY="value"`` lines to the config file (a shell fragment dehydrated sources)."""
        with self.config.open("a") as config:
            config.writelines(f"{key}={shlex.quote(str(value))}\n" for key, value in settings.items())

    def _dehydrated(self, *args: str | Path) -> str:
        return self.run("dehydrated", "--config", self.config, *args)

    def register(self, eab: tuple[str, str] | None = None) -> str:
        if eab:
            self._configure(EAB_KID=eab[0], EAB_HMAC_KEY=eab[1])
        self._dehydrated("--register", "--accept-terms")
        self._dehydrated("--account")  # looks the account up (onlyReturnExisting), stores its URL
        return self._account_url("accounts/*/account_id.json", "url")

    def _cron(self, names: tuple[str, ...], challenge: str, *extra: str) -> None:
        domains = [arg for name in names for arg in ("--domain", name)]
        responder = serve_directory(self.webroot, self.endpoint.http_port) if challenge == HTTP_01 else None
        with responder or contextlib.nullcontext():
            self._dehydrated("--cron", "--challenge", challenge, *extra, *domains)

    def obtain(self, names: tuple[str, ...], challenge: str) -> Issued:
        self._cron(names, challenge)
        certs = self.directory / "certs" / names[0]
        return Issued(names, challenge, certs / "cert.pem", certs / "fullchain.pem")

    def renew(self, issued: Issued) -> None:
        self._cron(issued.names, issued.challenge, "--force")

    def revoke(self, issued: Issued) -> x509.ReasonFlags | None:
        self._dehydrated("--revoke", issued.cert.resolve())
        return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test's stderr."""


@contextlib.contextmanager
def serve_directory(directory: Path, port: int) -> Iterator[None]:
    """A static web server for ``directory`` on 127.0.0.1:``port`` (dehydrated's WELLKNOWN)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                             functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


CLIENTS: dict[str, type[AcmeClient]] = {c.name: c for c in (Certbot, Lego, Dehydrated)}
