"""Certificate renewal: over mutual TLS, or with an ``x5c`` token once expired;
the daemon renews at two thirds of the lifetime (minus jitter), as step does."""

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

#: Renew at 2/3 of the lifetime, earlier by up to 1/20 of it (spreads a fleet's renewals).
RENEW_FRACTION = 2 / 3
JITTER_FRACTION = 1 / 20
MIN_RETRY = datetime.timedelta(seconds=1)
MAX_RETRY = datetime.timedelta(minutes=5)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def lifetime(certificate: x509.Certificate) -> datetime.timedelta:
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc


def renew_at(certificate: x509.Certificate, rng: random.Random) -> datetime.datetime:
    """When the daemon renews ``certificate``."""
    life = lifetime(certificate)
    return certificate.not_valid_before_utc + life * RENEW_FRACTION - life * (JITTER_FRACTION * rng.random())


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

    def run_daemon(self, exec_command: str | None, report: Callable[[str], None],
                   rng: random.Random | None = None) -> None:
        """Renew forever; run ``exec_command`` after each renewal. Failures are
        reported and retried; the loop ends only when the process is stopped."""
        rng = rng or random.SystemRandom()
        certificate = self.current()
        wait_until = renew_at(certificate, rng)
        while True:
            time.sleep(max(0.0, (wait_until - self.now()).total_seconds()))
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
            wait_until = renew_at(certificate, rng)


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

