"""The root's CRL (``crl.rootCRL`` in ca.json): signed offline by the root key (by
``appliance init``, later by a root CRL ceremony), only served by the online CA at
``/1.0/root.crl``, which the CDP of the intermediate ``appliance init`` makes names."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.config import ConfigError

log = logging.getLogger(__name__)
ROOT_CRL_PATH = "/1.0/root.crl"
STALE_WARNING_INTERVAL = datetime.timedelta(hours=1)


def load_root_crl(path: Path, root: x509.Certificate) -> x509.CertificateRevocationList:
    """The CRL at ``path`` (PEM or DER), refused unless ``root`` signed it."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"ca.json: 'crl.rootCRL' {path}: {error.strerror}") from None
    try:
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except ValueError:
        raise ConfigError(f"ca.json: 'crl.rootCRL' {path} is not a CRL (PEM or DER)") from None
    if crl.issuer != root.subject or not crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
        raise ConfigError(f"ca.json: 'crl.rootCRL' {path} is not signed by the root certificate")
    return crl


class RootCrl:
    """The root CRL as served: DER, and past its nextUpdate still served (the online CA
    cannot sign another) with a warning at most once an hour; ``/health`` ignores it,
    since a new one needs the offline root key, not the online CA."""

    def __init__(self, crl: x509.CertificateRevocationList, now: Callable[[], datetime.datetime]) -> None:
        self._crl, self._now = crl, now
        self._der = crl.public_bytes(serialization.Encoding.DER)
        self._warned: datetime.datetime | None = None

    def current(self) -> bytes:
        now = self._now()
        next_update = self._crl.next_update_utc
        if next_update is not None and now > next_update and (
                self._warned is None or now - self._warned >= STALE_WARNING_INTERVAL):
            self._warned = now
            log.warning("the root CRL (crl.rootCRL) expired at %s: sign a new one in a root CRL ceremony "
                        "and install it (replace the file, then SIGHUP)", next_update.isoformat())
        return self._der
