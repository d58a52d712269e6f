"""Import a step-ca's datastore into the appliance's database, in one transaction.

Read from step-ca (``db/db.go``): ``x509_certs`` (DER by decimal serial) with
``x509_certs_data`` (the provisioner that issued it), ``revoked_x509_certs`` and
``revoked_ssh_certs`` (``RevokedCertificateInfo`` JSON), ``used_ott`` (token by reuse
key), ``ssh_certs`` (wire form by serial); the ACME tables (``appliance.migrate.acme``)
and remote management's ``provisioners`` and ``admins`` (``appliance.migrate.admin``).
Every record is written only if its key is absent, so a second run imports nothing.
A value step-ca could not have written stops the run with nothing imported."""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType, load_ssh_public_identity
from sqlalchemy import Connection, select

from appliance.db.imports import import_certificate, insert_absent, revocations_changed
from appliance.db.interfaces import CertificateRecord
from appliance.db.schema import blocked_keys, certificates, revocations, revoked_not_after, used_tokens
from appliance.db.ssh_schema import ssh_certificates, ssh_revocations
from appliance.db.stepca_source import StepCaSource
from appliance.migrate import acme, admin
from appliance.migrate.run import Run
from appliance.migrate.summary import Summary
from appliance.migrate.values import CorruptValue, go_time, json_object, token_claims
from appliance.pki.keys import spki_sha256
from appliance.pki.pem import to_pem
from appliance.provisioner.names import Names
from appliance.sshcert.keys import key_blob

KEY_COMPROMISE = 1


def migrate(source: StepCaSource, conn: Connection, now: datetime.datetime, *,
            default_acme: str | None = None, default_eab: str | None = None) -> Summary:
    """Import everything the appliance has a place for into ``conn``'s transaction."""
    run = Run(source, conn, now, Summary(), {}, default_acme, default_eab)
    admin.import_provisioners(run)
    admin.import_admins(run)
    x509_serials = _import_certificates(run)
    ssh = _import_ssh_certificates(run)
    _import_revocations(run, x509_serials, ssh)
    _import_ssh_revocations(run, ssh)
    _import_used_tokens(run)
    acme.import_acme(run)
    _report_unused(run)
    return run.summary


def _import_certificates(run: Run) -> set[str]:
    """``x509_certs``, each with the provisioner ``x509_certs_data`` names; their serials."""
    issuers: dict[bytes, dict[str, Any]] = {}
    for key, value in run.source.entries("x509_certs_data"):
        provisioner = json_object("x509_certs_data", key, value).get("provisioner") or {}
        if isinstance(provisioner, dict) and provisioner.get("name"):
            issuers[key] = provisioner
            run.names.setdefault(str(provisioner.get("id", "")), str(provisioner["name"]))
    found: set[str] = set()
    for key, value in run.source.entries("x509_certs"):
        try:
            certificate = x509.load_der_x509_certificate(value)
            sans = _sans(certificate)
        except ValueError as err:
            raise CorruptValue("x509_certs", key, f"not a DER certificate ({err})") from None
        serial = str(certificate.serial_number)
        found.add(serial)
        record = CertificateRecord(
            serial=serial, subject=certificate.subject.rfc4514_string(), sans=sans,
            not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
            provisioner=str(issuers.get(key, {}).get("name", "")), pem=to_pem(certificate),
            issued_at=certificate.not_valid_before_utc)
        run.summary.count("certificates", import_certificate(run.conn, record))
    return found


def _sans(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(Names.from_san(san).as_strings())


def _revocation_info(bucket: str, key: bytes, value: bytes) -> tuple[str, int, str, datetime.datetime, str, bool]:
    """``RevokedCertificateInfo``: serial, reason code, reason, time, provisioner id, mTLS."""
    info = json_object(bucket, key, value)
    try:
        revoked_at = go_time(info.get("RevokedAt"))
        code = info.get("ReasonCode", 0)
        if not isinstance(code, int) or revoked_at is None:
            raise ValueError("no ReasonCode or RevokedAt")
    except ValueError as err:
        raise CorruptValue(bucket, key, str(err)) from None
    serial = str(info.get("Serial") or key.decode())
    return serial, code, str(info.get("Reason", "")), revoked_at, str(info.get("ProvisionerID", "")), \
        bool(info.get("MTLS"))


def _import_revocations(run: Run, x509_serials: set[str], ssh: dict[str, SSHCertificate]) -> None:
    """``revoked_x509_certs``: renewals stop, CRL and OCSP list them; keyCompromise blocks the key.
    step-ca records there too an SSH certificate revoked with any provisioner but SSHPOP: the serial
    of an SSH certificate and of no X.509 one is an SSH revocation."""
    changed = False
    for key, value in run.source.entries("revoked_x509_certs"):
        serial, code, reason, revoked_at, provisioner_id, mtls = _revocation_info("revoked_x509_certs", key, value)
        if serial not in x509_serials and serial in ssh:
            _import_ssh_revocation(run, ssh[serial], code, reason, revoked_at, provisioner_id)
            continue
        inserted = insert_absent(run.conn, revocations, {
            "serial": serial, "reason_code": code, "reason": reason, "revoked_at": revoked_at,
            "provisioner": run.provisioner_name(provisioner_id), "passive": True, "mtls": mtls,
            "not_after": revoked_not_after(serial)})
        run.summary.count("revocations", inserted)
        changed |= inserted
        if code == KEY_COMPROMISE and serial in x509_serials:
            _block_key(run, serial, revoked_at)
    if changed:
        revocations_changed(run.conn)


def _block_key(run: Run, serial: str, revoked_at: datetime.datetime) -> None:
    """No new certificate for the key of ``serial`` (imported in this run), as after a keyCompromise here."""
    pem = run.conn.execute(select(certificates.c.pem).where(certificates.c.serial == serial)).scalar_one()
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    insert_absent(run.conn, blocked_keys, {"spki_sha256": spki_sha256(key), "serial": serial,
                                           "blocked_at": revoked_at})


def _import_used_tokens(run: Run) -> None:
    """``used_ott``: the same reuse keys (``jti``, else the token's SHA-256), so a token spent
    on step-ca stays spent; kept until the token's ``exp``."""
    for key, value in run.source.entries("used_ott"):
        claims = token_claims(value)
        exp = claims.get("exp")
        expires_at = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc) \
            if isinstance(exp, (int, float)) and 0 < exp < 2**40 else run.now
        inserted = insert_absent(run.conn, used_tokens, {
            "token_id": key.decode(errors="replace")[:255], "provisioner": str(claims.get("iss", ""))[:255],
            "expires_at": expires_at, "used_at": run.now})
        run.summary.count("used tokens", inserted)


def _ssh_certificate(key: bytes, value: bytes) -> SSHCertificate:
    try:
        name_length = int.from_bytes(value[:4], "big")
        name = value[4:4 + name_length]
        certificate = load_ssh_public_identity(name + b" " + base64.b64encode(value))
    except (ValueError, UnsupportedAlgorithm) as err:
        raise CorruptValue("ssh_certs", key, f"not an SSH certificate ({err})") from None
    if not isinstance(certificate, SSHCertificate):
        raise CorruptValue("ssh_certs", key, "an SSH public key, not a certificate")
    return certificate


def _import_ssh_certificates(run: Run) -> dict[str, SSHCertificate]:
    """``ssh_certs`` (step-ca does not record their provisioner); the certificates by serial."""
    found: dict[str, SSHCertificate] = {}
    for key, value in run.source.entries("ssh_certs"):
        certificate = _ssh_certificate(key, value)
        found[str(certificate.serial)] = certificate
        inserted = insert_absent(run.conn, ssh_certificates, {
            "serial": str(certificate.serial),
            "cert_type": "user" if certificate.type == SSHCertificateType.USER else "host",
            "key_id": certificate.key_id.decode(errors="replace"),
            "principals": [p.decode(errors="replace") for p in certificate.valid_principals],
            "valid_after": datetime.datetime.fromtimestamp(certificate.valid_after, datetime.timezone.utc),
            "valid_before": datetime.datetime.fromtimestamp(min(certificate.valid_before, 2**40),
                                                            datetime.timezone.utc),
            "provisioner": "", "key_sha256": hashlib.sha256(key_blob(certificate.public_key())).hexdigest(),
            "certificate": certificate.public_bytes().decode(), "issued_at": run.now})
        run.summary.count("SSH certificates", inserted)
    return found


def _import_ssh_revocations(run: Run, certificates: dict[str, SSHCertificate]) -> None:
    """``revoked_ssh_certs``, with the CA key that signed each (for the KRL): only those
    whose certificate ``ssh_certs`` has."""
    for key, value in run.source.entries("revoked_ssh_certs"):
        serial, code, reason, revoked_at, provisioner_id, _ = _revocation_info("revoked_ssh_certs", key, value)
        certificate = certificates.get(serial)
        if certificate is None:
            run.summary.skip("SSH revocations", "without their certificate (the KRL needs its CA key)")
            continue
        _import_ssh_revocation(run, certificate, code, reason, revoked_at, provisioner_id)


def _import_ssh_revocation(run: Run, certificate: SSHCertificate, code: int, reason: str,
                           revoked_at: datetime.datetime, provisioner_id: str) -> None:
    inserted = insert_absent(run.conn, ssh_revocations, {
        "serial": str(certificate.serial), "ca_key": base64.b64encode(key_blob(certificate.signature_key())).decode(),
        "reason_code": code, "reason": reason, "revoked_at": revoked_at,
        "provisioner": run.provisioner_name(provisioner_id)})
    run.summary.count("SSH revocations", inserted)


#: step-ca buckets with nothing the appliance keeps: derived indexes and short-lived state.
_NOT_IMPORTED = {
    "ssh_hosts": "derived from SSH host certificates", "ssh_users": "derived from SSH user certificates",
    "ssh_host_principals": "derived from SSH host certificates",
    "nonces": "ACME nonces are short-lived", "acme_authzs": "ACME authorizations are re-validated",
    "acme_challenges": "ACME challenges are re-validated", "authority_policies": "policies: set them again",
    "x509_crl": "step-ca's last CRL: this CA signs its own",
}


def _report_unused(run: Run) -> None:
    for bucket, why in _NOT_IMPORTED.items():
        count = sum(1 for _ in run.source.entries(bucket))
        if count:
            run.summary.skip(bucket, why, count)
