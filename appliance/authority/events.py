"""What the authority reports of each operation it is asked for: Prometheus metrics
(``appliance_issuance``, latency, token replays, revocations) and audit records
(issued, renewed, rekeyed, revoked, refused with the reason).

The operations are decorated (:func:`issuance`, :func:`revocation`); the provisioner
that authorised one is noted when it is known (:func:`note_provisioner`), so that
a refusal is labelled with it too."""

from __future__ import annotations

import functools
import time
from contextvars import ContextVar
from typing import Any, Callable, Protocol, TypeVar

from cryptography import x509

from appliance import metrics
from appliance.audit import AuditSink
from appliance.authority.interfaces import IssuedCertificate
from appliance.errors import ApplianceError, ErrorKind
from appliance.pki.pem import fingerprint

_Method = TypeVar("_Method", bound=Callable[..., Any])
_provisioner: ContextVar[list[str] | None] = ContextVar("appliance_provisioner", default=None)


class Audited(Protocol):
    audit: AuditSink


def note_provisioner(name: str) -> None:
    """The provisioner that authorises the operation under way (for its metrics and audit record)."""
    noted = _provisioner.get()
    if noted is not None:
        noted[:] = [name]


def outcome_of(exc: BaseException) -> str:
    """refused (the request's fault), unavailable (a device or database away) or error."""
    if isinstance(exc, ApplianceError) and exc.kind not in (ErrorKind.INTERNAL, ErrorKind.UNAVAILABLE):
        return "refused"
    if isinstance(exc, ApplianceError) and exc.kind is ErrorKind.UNAVAILABLE:
        return "unavailable"
    return "error"


def reason_of(exc: BaseException) -> str:
    """What an audit record says of a failure: the domain error's message (never a token,
    which no error message quotes), else only the exception's type."""
    return exc.message if isinstance(exc, ApplianceError) else type(exc).__name__


def certificate_fields(certificate: x509.Certificate) -> dict[str, Any]:
    """What an audit record keeps of a certificate: serial, subject, names, validity, SHA-256."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(getattr(name, "value", name)) for name in san]
    except x509.ExtensionNotFound:
        names = []
    return {
        "serial": str(certificate.serial_number),
        "subject": certificate.subject.rfc4514_string(),
        "sans": names,
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256": fingerprint(certificate),
    }


def issuance(kind: str) -> Callable[[_Method], _Method]:
    """Count, time and audit an operation returning an ``IssuedCertificate``: ``kind`` is
    sign, acme, renew, rekey or server. A renewal's first argument is the old certificate."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def run(self: Audited, *args: Any, **kwargs: Any) -> IssuedCertificate:
            noted: list[str] = []
            reset, began = _provisioner.set(noted), time.perf_counter()
            fields: dict[str, Any] = {}
            if args and isinstance(args[0], x509.Certificate):
                fields["renews"] = str(args[0].serial_number)
            try:
                issued: IssuedCertificate = method(self, *args, **kwargs)
            except BaseException as exc:
                outcome = outcome_of(exc)
                provisioner = noted[0] if noted else ""
                metrics.issuance.labels(provisioner, kind, outcome).inc()
                if outcome == "refused":
                    self.audit.record(f"{kind}.refused", {"provisioner": provisioner, "reason": reason_of(exc),
                                                          **fields})
                raise
            finally:
                metrics.issuance_duration.labels(kind).observe(time.perf_counter() - began)
                _provisioner.reset(reset)
            provisioner = noted[0] if noted else ""
            metrics.issuance.labels(provisioner, kind, "issued").inc()
            self.audit.record(f"{kind}.issued", {"provisioner": provisioner, **fields,
                                                  **certificate_fields(issued.certificate)})
            return issued

        return run  # type: ignore[return-value]

    return decorate


def revocation(method: _Method) -> _Method:
    """Count and audit a revocation (its arguments' serial and reason are recorded by
    :func:`revoked`); a refused one is audited with the reason."""

    @functools.wraps(method)
    def run(self: Audited, *args: Any, **kwargs: Any) -> None:
        noted: list[str] = []
        reset = _provisioner.set(noted)
        try:
            method(self, *args, **kwargs)
        except BaseException as exc:
            if outcome_of(exc) == "refused":
                serial = getattr(args[0], "serial", args[0]) if args else ""
                self.audit.record("revoke.refused", {"provisioner": noted[0] if noted else "", "serial": str(serial),
                                                     "reason": reason_of(exc)})
            raise
        finally:
            _provisioner.reset(reset)

    return run  # type: ignore[return-value]


def revoked(audit: AuditSink, serial: str, reason_code: int, reason: str, provisioner: str, *, mtls: bool,
            passive: bool) -> None:
    """A revocation was recorded."""
    metrics.revocations.labels(provisioner).inc()
    audit.record("revoke.done", {"provisioner": provisioner, "serial": serial, "reason_code": reason_code,
                                 "reason": reason, "mtls": mtls, "passive": passive})


def token_replayed(provisioner: str) -> None:
    """A one-time token was refused because it was used already."""
    metrics.token_replays.labels(provisioner).inc()
