"""ACME Renewal Information (RFC 9773): certificate identifiers, suggested
windows, and the ``replaces`` field of new orders."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509

from appliance.acme.context import Core, Reply, rfc3339
from appliance.acme.models import Account
from appliance.acme.problems import AcmeError, Problem
from appliance.acme.store import AcmeStore
from appliance.errors import ErrorKind
from appliance.jose.b64 import b64decode, b64encode

#: The suggested window: from 2/3 to 5/6 of the certificate's lifetime.
WINDOW_START, WINDOW_END = 2 / 3, 5 / 6
#: A revoked certificate's window: the hour up to now.
REVOKED_WINDOW = datetime.timedelta(hours=1)


def serial_der(serial: int) -> bytes:
    """The content octets of the DER INTEGER (two's complement, minimal)."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(certificate: x509.Certificate) -> str:
    """base64url(AKI keyIdentifier) "." base64url(serial DER bytes)."""
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    return f"{b64encode(aki.key_identifier or b'')}.{b64encode(serial_der(certificate.serial_number))}"


def _check_format(value: Any) -> str:
    parts = value.split(".") if isinstance(value, str) else []
    try:
        if len(parts) != 2 or not all(b64decode(p) for p in parts):
            raise ValueError
    except ValueError:
        raise AcmeError(Problem.MALFORMED, "a certificate identifier is base64url(AKI).base64url(serial)") from None
    return value


def check_replaces(store: AcmeStore, account: Account, value: Any) -> None:
    """``replaces`` must name a certificate issued to this account and not yet replaced."""
    certificate = store.certificate_by_cert_id(_check_format(value))
    if certificate is None or certificate.account_id != account.id:
        raise AcmeError(Problem.MALFORMED, "replaces does not name a certificate issued to this account")
    if certificate.replaced_by is not None:
        raise AcmeError(Problem.ALREADY_REPLACED, "the certificate has already been replaced")


def renewal_info(core: Core, value: str) -> Reply:
    """The suggested window; for a revoked certificate one that has already begun
    and ends now, so that clients renew at once (RFC 9773, section 4.2)."""
    certificate = core.store.certificate_by_cert_id(_check_format(value))
    if certificate is None:
        raise AcmeError(Problem.MALFORMED, "no certificate with this identifier", kind=ErrorKind.NOT_FOUND)
    if core.authority.is_revoked(certificate.serial):
        now = core.now()
        window = {"start": rfc3339(now - REVOKED_WINDOW), "end": rfc3339(now)}
        return Reply({"suggestedWindow": window}, retry_after=core.settings.renewal_info_retry_after)
    lifetime = certificate.not_after - certificate.not_before
    window = {"start": rfc3339(certificate.not_before + lifetime * WINDOW_START),
              "end": rfc3339(certificate.not_before + lifetime * WINDOW_END)}
    return Reply({"suggestedWindow": window}, retry_after=core.settings.renewal_info_retry_after)
