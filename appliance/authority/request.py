"""Checks of what a client sends: the CSR and the requested validity."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from appliance.authority.interfaces import TimeOrDuration
from appliance.pki.keys import check_public_key, verified_csr_key
from appliance.errors import BadRequest, Forbidden
from appliance.provisioner import Claimer, Names


def csr_public_key(csr: x509.CertificateSigningRequest) -> CertificatePublicKeyTypes:
    """The CSR's key, once its self-signature verifies and the key is acceptable."""
    key = verified_csr_key(csr)
    check_public_key(key)
    return key


def csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    values = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def csr_names(csr: x509.CertificateSigningRequest) -> Names:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return Names()
    except (ValueError, x509.DuplicateExtension) as exc:
        raise BadRequest(f"malformed certificate request extensions: {exc}") from None
    return Names.from_san(san)


def identity_uri(csr: x509.CertificateSigningRequest) -> str | None:
    """The CSR's first ``urn:uuid:`` URI (step-ca's ``getIdentityURI``: a host's id)."""
    for uri in csr_names(csr).uris:
        if len(uri) == 45 and uri[:9].lower() == "urn:uuid:":
            try:
                uuid.UUID(uri[9:])
            except ValueError:
                continue
            return uri
    return None


def authorised_names(csr: x509.CertificateSigningRequest, subject: str, allowed: Names, *,
                     identity: bool = False) -> Names:
    """The SANs to certify: the CSR's, each authorised by the token (the token's if the
    CSR has none); the CSR's common name, if any, must be the token subject. For an
    ``identity`` certificate (step-ca's ``SignIdentityMethod``) the CSR's URIs are not
    checked, and its ``urn:uuid:`` one is certified too."""
    common_name = csr_common_name(csr)
    if common_name and common_name != subject and common_name.lower() not in allowed.as_strings():
        raise Forbidden(f"certificate request common name '{common_name}' is not authorised by the token")
    requested = csr_names(csr)
    if identity:
        uri = identity_uri(csr)
        requested = dataclasses.replace(requested, uris=frozenset())
        names = _within(requested, allowed)
        return dataclasses.replace(names, uris=names.uris | {uri}) if uri else names
    return _within(requested, allowed)


def _within(requested: Names, allowed: Names) -> Names:
    """``requested`` if ``allowed`` holds every one of them, ``allowed`` if none is requested."""
    outside = requested.outside(allowed)
    if outside:
        raise Forbidden(f"certificate request names {', '.join(outside)} are not authorised by the token")
    return requested or allowed


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value.replace(tzinfo=datetime.timezone.utc) if value.tzinfo is None else value.astimezone(datetime.timezone.utc)


def _resolve(value: TimeOrDuration | None, now: datetime.datetime) -> datetime.datetime | None:
    """A requested time: absolute, or a duration from ``now`` (step-ca's ``TimeDuration``)."""
    if value is None:
        return None
    return now + value if isinstance(value, datetime.timedelta) else _utc(value)


def validity(now: datetime.datetime, backdate: datetime.timedelta, claimer: Claimer,
             requested_not_before: TimeOrDuration | None, requested_not_after: TimeOrDuration | None,
             limit: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    """Requested or default validity within the claims' bounds (step-ca's rules:
    default duration from now, notBefore backdated unless requested); never past
    ``limit``, the end of the credential that authorised it (a default is cut short).
    Durations count from ``now``, the one instant the bounds are checked at, so
    ``5m`` with a 5-minute minimum is exactly the minimum."""
    try:
        not_before, not_after = _resolve(requested_not_before, now), _resolve(requested_not_after, now)
    except OverflowError:
        raise BadRequest("notBefore or notAfter is out of range") from None
    start = not_before if not_before else now
    try:
        end = not_after if not_after else start + claimer.default_tls_duration
    except OverflowError:
        raise BadRequest("notBefore is out of range (no notAfter can follow it)") from None
    if limit is not None and end > limit:
        if not_after:
            raise Forbidden(f"requested certificate notAfter ({end.isoformat()}) is after the expiration "
                            f"of the provisioning credential ({limit.isoformat()})")
        end = limit
    if end <= start:
        raise BadRequest("notAfter must be after notBefore")
    if end <= now:
        raise BadRequest("notAfter is in the past")
    duration = end - start
    if duration < claimer.min_tls_duration:
        raise Forbidden(f"requested duration {duration} is less than the authorised minimum {claimer.min_tls_duration}")
    if duration > claimer.max_tls_duration:
        raise Forbidden(f"requested duration {duration} is more than the authorised maximum {claimer.max_tls_duration}")
    return (start if not_before else now - backdate), end
