"""Short-lived certificates: renewal of an expired certificate with an x5c token
(only where the provisioner allows it) and the ``--daemon`` renewal loop."""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509

from tests.cli.conftest import Client, bootstrap
from tests.e2e.harness import Server, init_ca, start_server
from tests.conftest import APPLIANCE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A CA whose provisioners allow 1 s certificates (backdated by the default
    minute); "admin" refuses renewal after expiry, "late" (added with the CLI) allows it."""
    ca = init_ca(tmp_path_factory.mktemp("short-lived"))
    admin = Client(tmp_path_factory.mktemp("admin"))
    admin.ok("ca", "provisioner", "update", "admin", "--x509-min-dur", "1s", "--ca-config", ca.ca_json)
    admin.ok("ca", "provisioner", "add", "late", "--create", "--password-file", ca.password_file,
             "--x509-min-dur", "1s", "--allow-renewal-after-expiry", "--ca-config", ca.ca_json)
    running = start_server(ca)
    try:
        yield running
    finally:
        running.stop()


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _issue(client: Client, server: Server, provisioner: str, lifetime: str) -> tuple[Path, Path]:
    crt, key = client.path / f"{provisioner}.crt", client.path / f"{provisioner}.key"
    client.ok("ca", "certificate", f"{provisioner}.example", crt, key, "--provisioner", provisioner,
              "--password-file", server.ca.password_file, "--not-after", lifetime, "--force")
    return crt, key


def _wait_until_expired(crt: Path) -> None:
    remaining = _leaf(crt).not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    time.sleep(max(0.0, remaining.total_seconds()) + 1.5)


def test_expired_certificate_renews_with_a_token_only_where_allowed(client: Client, short_lived: Server) -> None:
    bootstrap(client, short_lived.ca)
    refused, refused_key = _issue(client, short_lived, "admin", "2s")
    allowed, allowed_key = _issue(client, short_lived, "late", "2s")
    _wait_until_expired(allowed)
    assert "expired" in client.fails("ca", "renew", refused, refused_key, "--force")
    old = _leaf(allowed)
    client.ok("ca", "renew", allowed, allowed_key, "--force")
    new = _leaf(allowed)
    assert new.serial_number != old.serial_number and new.public_key() == old.public_key()
    assert new.not_valid_after_utc > old.not_valid_after_utc


def test_daemon_renews_at_two_thirds_and_runs_the_hook(client: Client, short_lived: Server,
                                                       openssl: Callable[..., Any]) -> None:
    bootstrap(client, short_lived.ca)
    crt, key = _issue(client, short_lived, "late", "6s")
    first = _leaf(crt)
    hooks = client.path / "hooks"
    started = time.monotonic()
    daemon = subprocess.Popen([str(APPLIANCE), "ca", "renew", str(crt), str(key), "--daemon",
                               "--exec", f"sh -c 'date +%s.%N >> {hooks}'"],
                              env={**os.environ, "APPLIANCE_PATH": str(client.path)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(2.0)  # renewal is due 4 s after issuance (not the backdated notBefore), less 0.3 s of jitter
        assert _leaf(crt) == first, "renewed before two thirds of the lifetime"
        deadline = time.monotonic() + 20
        while (len(hooks.read_text().split()) if hooks.exists() else 0) < 2:
            assert time.monotonic() < deadline and daemon.poll() is None, "the daemon did not renew twice"
            time.sleep(0.2)
    finally:
        daemon.terminate()
        output = daemon.communicate(timeout=10)[0].decode()
    elapsed = time.monotonic() - started
    assert output.count("renewed: serial") >= 2, output
    assert elapsed >= 5.0, "two renewals of a 6 s certificate take at least 2 x (4 s - jitter)"
    assert _leaf(crt).serial_number != first.serial_number
    openssl("verify", "-CAfile", short_lived.ca.root, "-untrusted", short_lived.ca.intermediate, crt)


def test_daemon_renews_a_short_backdated_certificate_a_bounded_number_of_times(client: Client,
                                                                                short_lived: Server) -> None:
    """A 3 s certificate, backdated by a minute, once looked due forever (dozens of
    renewals a second): now about one renewal every 2 s."""
    bootstrap(client, short_lived.ca)
    crt, key = _issue(client, short_lived, "admin", "3s")
    daemon = subprocess.Popen([str(APPLIANCE), "ca", "renew", str(crt), str(key), "--daemon"],
                              env={**os.environ, "APPLIANCE_PATH": str(client.path)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(6.0)
        assert daemon.poll() is None
    finally:
        daemon.terminate()
        output = daemon.communicate(timeout=10)[0].decode()
    assert 1 <= output.count("renewed: serial") <= 4, output
    assert "renewal failed" not in output, output
