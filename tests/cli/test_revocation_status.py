"""``appliance ca ocsp``, ``ca crl`` and ``certificate verify --crl-endpoint/--ocsp-endpoint``
against a running server with OCSP and the CRL enabled; the CRL they fetch also
passes ``openssl crl -verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509

from tests.cli.conftest import Client, bootstrap
from tests.e2e.harness import Server, free_port, init_ca, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def revoking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ca = init_ca(tmp_path_factory.mktemp("revocation-ca"))
    data = ca.data()
    data["insecureAddress"] = f"127.0.0.1:{free_port()}"
    data["ocsp"] = {"enabled": True}
    data["crl"] = {"enabled": True}
    ca.write(data)
    with running_server(ca) as running:
        yield running


@pytest.fixture
def client_of(client: Client, revoking_server: Server) -> Client:
    return bootstrap(client, revoking_server.ca)


def _issue(client: Client, server: Server, name: str) -> tuple[Path, str]:
    crt = client.path / f"{name}.crt"
    client.ok("ca", "certificate", name, crt, client.path / f"{name}.key", "--provisioner", "admin",
              "--password-file", server.ca.password_file)
    return crt, str(x509.load_pem_x509_certificate(crt.read_bytes()).serial_number)


def _urls(server: Server) -> tuple[str, str]:
    insecure = server.ca.data()["insecureAddress"]
    return f"http://{insecure}/crl", f"http://{insecure}/ocsp"


def test_status_follows_revocation(client_of: Client, revoking_server: Server, openssl: Callable[..., Any]) -> None:
    server = revoking_server
    crt, serial = _issue(client_of, server, "status.example")
    crl_url, ocsp_url = _urls(server)
    assert client_of.ok("ca", "ocsp", serial).stdout.strip() == f"{serial}: good"
    client_of.ok("certificate", "verify", crt, "--roots", server.ca.root,
                 "--crl-endpoint", crl_url, "--ocsp-endpoint", ocsp_url)

    client_of.ok("ca", "revoke", serial, "--reasonCode", "1", "--provisioner", "admin",
                 "--password-file", server.ca.password_file)
    result = client_of.run("ca", "ocsp", serial)
    assert result.exit_code == 1 and "revoked at" in result.stdout and "key_compromise" in result.stdout
    assert "revoked" in client_of.fails("certificate", "verify", crt, "--roots", server.ca.root,
                                        "--ocsp-endpoint", ocsp_url)
    assert "revoked" in client_of.fails("certificate", "verify", crt, "--roots", server.ca.root,
                                        "--crl-endpoint", crl_url)

    out = client_of.path / "ca.crl"
    listing = client_of.ok("ca", "crl", "--out", out).stdout
    assert listing.startswith("CRL number ") and f"  {serial} revoked " in listing
    openssl("crl", "-inform", "DER", "-in", out, "-CAfile", server.ca.intermediate, "-noout")


def test_unknown_serial_and_bad_input(client_of: Client) -> None:
    result = client_of.run("ca", "ocsp", "0x1234567890abcdef")
    assert result.exit_code == 1 and result.stdout.strip() == f"{0x1234567890abcdef}: unknown"
    assert "not a serial number" in client_of.fails("ca", "ocsp", "zz")


def test_verify_follows_the_urls_in_the_certificate(client_of: Client, revoking_server: Server) -> None:
    server = revoking_server
    crt, serial = _issue(client_of, server, "urls.example")
    client_of.ok("certificate", "verify", crt, "--roots", server.ca.root, "--verify-crl", "--verify-ocsp")
    client_of.ok("ca", "revoke", serial, "--reasonCode", "4", "--provisioner", "admin",
                 "--password-file", server.ca.password_file)
    assert "revoked" in client_of.fails("certificate", "verify", crt, "--roots", server.ca.root, "--verify-ocsp")
