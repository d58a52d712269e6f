"""What the authority reports of each operation it is asked for: Prometheus metrics
(``appliance_issuance``, latency, token replays, revocations) and audit records.

The operations are decorated (:func:`issuance`, :func:`revocation`); the provisioner
that authorised one is noted when it is known (:func:`note_provisioner`), so that
a refusal is labelled with it too. A certificate or a revocation is audited in the
transaction that records it (:func:`transaction_hook`, installed on the database),
as ``<kind>.issued`` (sign, identity, acme, scep, est, renew, rekey, server) or ``revoke.done``;
a refusal, which changes nothing, as ``<kind>.refused`` with the reason."""

from __future__ import annotations

import functools
import time
from contextvars import ContextVar
from typing import Any, Callable, Protocol, TypeVar

from cryptography import x509

from appliance import metrics
from sqlalchemy import Connection

from appliance.audit import AuditLog, AuditSink
from appliance.authority.interfaces import IssuedCertificate
from appliance.db.interfaces import CertificateRecord, RevocationRecord
from appliance.db.sql import AuditHook
from appliance.errors import ApplianceError, ErrorKind
from appliance.pki.pem import fingerprint

_Method = TypeVar("_Method", bound=Callable[..., Any])
_provisioner: ContextVar[list[str] | None] = ContextVar("appliance_provisioner", default=None)
#: The kind of the issuance under way (its audit event's name), "certificate" outside one.
_kind: ContextVar[str] = ContextVar("appliance_issuance_kind", default="certificate")


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


def transaction_hook(audit: AuditLog) -> AuditHook:
    """The database's ``audit_hook``: each certificate or revocation it records is appended to
    ``audit`` in the same transaction (what it keeps: serial, subject, names, validity,
    SHA-256, provisioner; the reason of a revocation)."""

    def append(conn: Connection, recorded: CertificateRecord | RevocationRecord, renews: str) -> None:
        if isinstance(recorded, RevocationRecord):
            audit.append_in(conn, "revoke.done", {
                "provisioner": recorded.provisioner, "serial": recorded.serial, "reason_code": recorded.reason_code,
                "reason": recorded.reason, "mtls": recorded.mtls, "passive": recorded.passive})
            return
        certificate = x509.load_pem_x509_certificate(recorded.pem.encode())
        audit.append_in(conn, f"{_kind.get()}.issued", {
            "provisioner": recorded.provisioner, "serial": recorded.serial, "subject": recorded.subject,
            "sans": list(recorded.sans), "not_before": recorded.not_before.isoformat(),
            "not_after": recorded.not_after.isoformat(), "sha256": fingerprint(certificate),
            **({"renews": renews} if renews else {})})

    return append


def issuance(kind: str) -> Callable[[_Method], _Method]:
    """Count, time and audit an operation returning an ``IssuedCertificate``: ``kind`` is
    sign, identity (an ``/ssh/sign`` identityCSR), acme, scep, est, renew, rekey or server. A
    renewal's first argument is the old certificate."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def run(self: Audited, *args: Any, **kwargs: Any) -> IssuedCertificate:
            noted: list[str] = []
            reset, reset_kind, began = _provisioner.set(noted), _kind.set(kind), time.perf_counter()
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
                _kind.reset(reset_kind)
            metrics.issuance.labels(noted[0] if noted else "", kind, "issued").inc()
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


def revoked(provisioner: str) -> None:
    """A revocation was recorded (and audited in its transaction)."""
    metrics.revocations.labels(provisioner).inc()


def token_replayed(provisioner: str) -> None:
    """A one-time token was refused because it was used already."""
    metrics.token_replays.labels(provisioner).inc()
