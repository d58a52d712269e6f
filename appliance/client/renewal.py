"""Certificate renewal: over mutual TLS, or with an ``x5c`` token once expired;
the daemon renews at two thirds of the lifetime (minus jitter), as step does, or
``--expires-in`` before expiry. The lifetime is counted from when the certificate
was obtained, not from its backdated notBefore, and renewals are at least a third
of the remaining lifetime (and 1 s) apart, so a short certificate cannot make the
daemon loop."""

from __future__ import annotations

import datetime
import random
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cryptography import x509

from appliance.client.files import load_certificates, load_key_file, write_certificates
from appliance.client.http import SignedChain
from appliance.client.settings import CaSettings
from appliance.client.tokens import renew_token
from appliance.errors import ApplianceError
from appliance.pki.clock import utc_now

#: Renew at 2/3 of the lifetime, earlier by up to 1/20 of it (spreads a fleet's renewals).
RENEW_FRACTION = 2 / 3
JITTER_FRACTION = 1 / 20
MIN_RETRY = datetime.timedelta(seconds=1)
MIN_WAIT = datetime.timedelta(seconds=1)
MAX_RETRY = datetime.timedelta(minutes=5)


def lifetime(certificate: x509.Certificate) -> datetime.timedelta:
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc


def renew_at(certificate: x509.Certificate, rng: random.Random, obtained: datetime.datetime,
             expires_in: datetime.timedelta | None = None) -> datetime.datetime:
    """When the daemon renews ``certificate``, obtained at ``obtained``: at 2/3 of its
    lifetime from then (or notBefore, if later), or ``expires_in`` before it expires;
    earlier by up to 1/20 of that lifetime."""
    start = max(certificate.not_valid_before_utc, obtained)
    life = certificate.not_valid_after_utc - start
    due = certificate.not_valid_after_utc - expires_in if expires_in is not None else start + life * RENEW_FRACTION
    return due - life * (JITTER_FRACTION * rng.random())


def next_renewal(certificate: x509.Certificate, rng: random.Random, renewed_at: datetime.datetime,
                 expires_in: datetime.timedelta | None = None) -> datetime.datetime:
    """When to renew again a certificate renewed at ``renewed_at``: ``renew_at``, but no
    sooner than a third of its remaining lifetime later (nor than ``MIN_WAIT``), and no
    later than its expiry."""
    remaining = certificate.not_valid_after_utc - renewed_at
    due = max(renew_at(certificate, rng, renewed_at, expires_in), renewed_at + remaining / 3)
    return max(min(due, certificate.not_valid_after_utc), renewed_at + MIN_WAIT)


def retry_delay(certificate: x509.Certificate) -> datetime.timedelta:
    """How long to wait after a failed renewal: a tenth of the lifetime, within bounds."""
    return min(max(lifetime(certificate) / 10, MIN_RETRY), MAX_RETRY)


def expires_within(certificate: x509.Certificate, window: datetime.timedelta, now: datetime.datetime) -> bool:
    return certificate.not_valid_after_utc - now <= window


@dataclass
class Renewer:
    """Renews the certificate in ``crt`` (leaf + chain) whose key is in ``key``."""

    settings: CaSettings
    crt: Path
    key: Path
    key_password: bytes | None = None
    now: Callable[[], datetime.datetime] = field(default=utc_now)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def current(self) -> x509.Certificate:
        return load_certificates(self.crt)[0]

    def renew(self) -> x509.Certificate:
        """Renew once and rewrite ``crt`` atomically; the new leaf."""
        chain = load_certificates(self.crt)
        if chain[0].not_valid_after_utc <= self.now():
            signed = self._renew_with_token(chain)
        else:
            with self.settings.client((self.crt, self.key), self.key_password) as client:
                signed = client.renew()
        write_certificates(self.crt, signed.certificates)
        return signed.leaf

    def _renew_with_token(self, chain: list[x509.Certificate]) -> SignedChain:
        """An expired certificate cannot do mTLS: prove possession with a token
        (the CA accepts it only if its provisioner allows renewal after expiry)."""
        token = renew_token(chain, load_key_file(self.key, self.key_password), ca_url=self.settings.ca_url)
        with self.settings.client() as client:
            return client.renew(bearer=token)

    def obtained(self) -> datetime.datetime:
        """When the certificate in ``crt`` was obtained, as far as we know: when the file
        was last written (no later than now)."""
        written = datetime.datetime.fromtimestamp(self.crt.stat().st_mtime, datetime.timezone.utc)
        return min(written, self.now())

    def run_daemon(self, exec_command: str | None, report: Callable[[str], None],
                   rng: random.Random | None = None, expires_in: datetime.timedelta | None = None) -> None:
        """Renew forever (see ``renew_at`` and ``next_renewal``); run ``exec_command``
        after each renewal. Failures are reported and retried; the loop ends only
        when the process is stopped (or ``sleep`` raises). Time is ``now`` and
        ``sleep``, so a test drives the loop with a fake clock."""
        rng = rng or random.SystemRandom()
        certificate = self.current()
        wait_until = renew_at(certificate, rng, self.obtained(), expires_in)
        while True:
            self.sleep(max(0.0, (wait_until - self.now()).total_seconds()))
            try:
                certificate = self.renew()
            except ApplianceError as exc:
                report(f"renewal failed: {exc.message}")
                wait_until = self.now() + retry_delay(certificate)
                continue
            report(f"renewed: serial {certificate.serial_number}, valid until "
                   f"{certificate.not_valid_after_utc.isoformat()}")
            if exec_command:
                run_hook(exec_command, report)
            wait_until = next_renewal(certificate, rng, self.now(), expires_in)


def run_hook(command_line: str, report: Callable[[str], None]) -> None:
    """Run the ``--exec`` command (split like a shell would, but no shell); a failure
    is reported, not fatal."""
    command = shlex.split(command_line)
    if not command:
        return
    try:
        result = subprocess.run(command, check=False)
    except OSError as exc:
        report(f"--exec {command[0]} failed: {exc.strerror}")
        return
    if result.returncode != 0:
        report(f"--exec {command[0]} exited with status {result.returncode}")

