"""Short-lived certificates: renewal of an expired certificate with an x5c token
(only where the provisioner allows it) and the ``--daemon`` renewal loop."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography import x509

from appliance.client.renewal import MIN_WAIT, Renewer
from appliance.client.settings import CaSettings
from appliance.pki.clock import utc_now
from tests.cli.conftest import Client, bootstrap
from tests.e2e.harness import Server, init_ca, running_server
from tests.clock import FakeClock, FixedRandom

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
    with running_server(ca) as running:
        yield running


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


class _Stop(Exception):
    """Ends the daemon's loop (as stopping the process would)."""


def _daemon(client: Client, server: Server, crt: Path, key: Path, renewals: int) -> tuple[FakeClock, list[str]]:
    """Run the renewal loop against the real CA on a fake clock (no jitter) that starts
    when ``crt`` was written, until it has renewed ``renewals`` times and asked for the
    next wait; the clock (its ``sleeps``) and what the daemon reported."""
    clock, reports = FakeClock(datetime.datetime.fromtimestamp(crt.stat().st_mtime, datetime.timezone.utc)), []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if sum("renewed: serial" in line for line in reports) >= renewals:
            raise _Stop

    renewer = Renewer(CaSettings(server.ca.url, client.root), crt, key, now=clock.now, sleep=sleep)
    hook = f"sh -c 'echo renewed >> {client.path / 'hooks'}'"
    with pytest.raises(_Stop):
        renewer.run_daemon(hook, reports.append, rng=FixedRandom(0.0))
    return clock, reports


def _two_thirds_left(not_after: datetime.datetime, since: datetime.datetime) -> float:
    return (not_after - since).total_seconds() * 2 / 3


def _renewed_until(reports: list[str]) -> list[datetime.datetime]:
    """The expiry of each renewed certificate, from the daemon's "renewed" lines."""
    return [datetime.datetime.fromisoformat(line.rsplit(" ", 1)[1]) for line in reports if "renewed: serial" in line]


def test_daemon_renews_at_two_thirds_and_runs_the_hook(client: Client, short_lived: Server,
                                                       openssl: Callable[..., Any]) -> None:
    """An hour's certificate is renewed 40 min after it was obtained; the next one at
    two thirds of what is left of its lifetime on the daemon's clock (the fake clock
    is 40 min ahead of the CA's by then: about 20 min left, renewed after about 13 min)."""
    bootstrap(client, short_lived.ca)
    crt, key = _issue(client, short_lived, "late", "1h")
    first = _leaf(crt)
    clock, reports = _daemon(client, short_lived, crt, key, renewals=2)
    assert len(clock.sleeps) == 3 and len(_renewed_until(reports)) == 2, reports
    assert clock.sleeps[0] == pytest.approx(_two_thirds_left(first.not_valid_after_utc, clock.start), abs=1e-3)
    assert clock.sleeps[0] == pytest.approx(40 * 60, abs=5)
    renewed_at = clock.start + datetime.timedelta(seconds=clock.sleeps[0])
    assert clock.sleeps[1] == pytest.approx(_two_thirds_left(_renewed_until(reports)[0], renewed_at), abs=1e-3)
    assert 13 * 60 <= clock.sleeps[1] < 20 * 60
    assert (client.path / "hooks").read_text().split() == ["renewed", "renewed"]
    renewed = _leaf(crt)
    assert renewed.serial_number != first.serial_number and renewed.public_key() == first.public_key()
    openssl("verify", "-CAfile", short_lived.ca.root, "-untrusted", short_lived.ca.intermediate, crt)


def test_daemon_does_not_renew_a_short_backdated_certificate_at_once(client: Client,
                                                                     short_lived: Server) -> None:
    """A 30 s certificate, backdated by a minute, was once due at once (2/3 of its
    90 s from notBefore is now: dozens of renewals a second): now it is renewed
    after 20 s, and the renewed one after two thirds of what is left of it."""
    bootstrap(client, short_lived.ca)
    crt, key = _issue(client, short_lived, "admin", "30s")
    first = _leaf(crt)
    assert first.not_valid_before_utc < utc_now() - datetime.timedelta(seconds=30)  # backdated
    clock, reports = _daemon(client, short_lived, crt, key, renewals=1)
    assert "renewal failed" not in "".join(reports) and len(clock.sleeps) == 2, reports
    assert clock.sleeps[0] == pytest.approx(_two_thirds_left(first.not_valid_after_utc, clock.start), abs=1e-3)
    assert clock.sleeps[0] > 15
    renewed_at = clock.start + datetime.timedelta(seconds=clock.sleeps[0])
    assert clock.sleeps[1] == pytest.approx(_two_thirds_left(_renewed_until(reports)[0], renewed_at), abs=1e-3)
    assert clock.sleeps[1] >= MIN_WAIT.total_seconds()
