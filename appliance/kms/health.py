"""Is the CA's key usable? A cheap test signature, cached so that ``/health`` costs nothing under load.

:class:`SignerHealth` signs a fixed digest with the signer (through the device,
with its own fault healing) and verifies it with the public key. The answer
is kept for ``ttl`` seconds of the injected clock; while one caller probes,
the others get the last answer instead of queueing behind the device.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.errors import ApplianceError

DEFAULT_TTL_SECONDS = 3.0
_MESSAGE = b"appliance health probe"


@dataclass(frozen=True)
class HealthReport:
    """The outcome of one probe; ``detail`` is safe to show (no secret)."""

    healthy: bool
    detail: str = ""


def _ec_hash(key: ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    """The hash that fits the curve (cloud KMSs bind P-384 to SHA-384)."""
    return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())


def probe_signature(signer: PrivateKeyTypes) -> None:
    """Sign a fixed digest (or message) and verify it; raises on any failure."""
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        algorithm = ec.ECDSA(utils.Prehashed(hash_alg := _ec_hash(signer)))
        digest = hashes.Hash(hash_alg)
        digest.update(_MESSAGE)
        data = digest.finalize()
        signer.public_key().verify(signer.sign(data, algorithm), data, algorithm)
    elif isinstance(signer, rsa.RSAPrivateKey):
        pkcs1 = padding.PKCS1v15()
        signer.public_key().verify(signer.sign(_MESSAGE, pkcs1, hashes.SHA256()), _MESSAGE, pkcs1, hashes.SHA256())
    elif isinstance(signer, ed25519.Ed25519PrivateKey):
        signer.public_key().verify(signer.sign(_MESSAGE), _MESSAGE)
    else:
        raise TypeError(f"no health probe for {type(signer).__name__}")


class SignerHealth:
    """The signer's health, probed at most once per ``ttl`` seconds."""

    def __init__(self, signer: PrivateKeyTypes, *, clock: Callable[[], float] = time.monotonic,
                 ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self._signer = signer
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._report: HealthReport | None = None
        self._checked_at = 0.0

    def fresh(self) -> HealthReport | None:
        """The cached report while it is younger than ``ttl``; None when a probe is due."""
        report = self._report
        if report is not None and self._clock() - self._checked_at < self._ttl:
            return report
        return None

    def check(self) -> HealthReport:
        """The cached report, or a new probe (blocking: call it off the event loop)."""
        report = self.fresh()
        if report is not None:
            return report
        if not self._lock.acquire(blocking=self._report is None):
            assert self._report is not None
            return self._report  # another caller is probing: its previous answer stands
        try:
            report = self.fresh()
            if report is None:
                report = self._probe()
                self._report, self._checked_at = report, self._clock()
            return report
        finally:
            self._lock.release()

    def _probe(self) -> HealthReport:
        try:
            probe_signature(self._signer)
        except ApplianceError as exc:
            return HealthReport(False, exc.message)
        except InvalidSignature:
            return HealthReport(False, "the key's test signature does not verify")
        return HealthReport(True)
