"""step-ca's remote management tables (``authority/admin/db/nosql``): ``provisioners``
(linkedca's provisioner: type and claims as protobuf enums/JSON, ``details`` the JSON of
its type's message, base64 in the row's JSON) and ``admins``. A provisioner becomes its
ca.json object, as the appliance's remote management keeps it; types whose details are
not converted yet are left out (and their admins with them), named in the summary."""

from __future__ import annotations

import json
from typing import Any, Callable

from appliance.db.imports import insert_absent, record_admin_import
from appliance.db.schema import admins, provisioners
from appliance.migrate.run import Run
from appliance.migrate.values import CorruptValue, go_bytes, go_time, json_object

# linkedca.Provisioner_Type and linkedca.Admin_Type
PROVISIONER_TYPES = {1: "JWK", 2: "OIDC", 3: "GCP", 4: "AWS", 5: "AZURE", 6: "ACME", 7: "X5C", 8: "K8SSA",
                     9: "SSHPOP", 10: "SCEP", 11: "NEBULA"}
ADMIN_TYPES = {1: "ADMIN", 2: "SUPER_ADMIN"}
_CHALLENGES = {1: "http-01", 2: "dns-01", 3: "tls-alpn-01", 4: "device-attest-01"}
_CLAIMS = {("x509", "durations"): "TLSCertDuration", ("ssh", "user_durations"): "UserSSHCertDuration",
           ("ssh", "host_durations"): "HostSSHCertDuration"}


def _jwk(details: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"key": json.loads(go_bytes(details.get("public_key")))}
    if details.get("encrypted_private_key"):
        converted["encryptedKey"] = go_bytes(details["encrypted_private_key"]).decode()
    return converted


def _acme(details: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    if details.get("force_cn"):
        converted["forceCN"] = True
    if details.get("require_eab"):
        converted["requireEAB"] = True
    if details.get("challenges"):
        converted["challenges"] = [_CHALLENGES[c] for c in details["challenges"] if c in _CHALLENGES]
    return converted


_CONVERTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"JWK": _jwk, "ACME": _acme}


def claims(linked: dict[str, Any] | None) -> dict[str, Any]:
    """linkedca's ``Claims`` as ca.json's ``claims``."""
    out: dict[str, Any] = {}
    for (section, durations), suffix in _CLAIMS.items():
        values = ((linked or {}).get(section) or {}).get(durations) or {}
        for bound in ("min", "max", "default"):
            if values.get(bound):
                out[f"{bound}{suffix}"] = values[bound]
    if ((linked or {}).get("ssh") or {}).get("enabled"):
        out["enableSSHCA"] = True
    for field, name in (("disable_renewal", "disableRenewal"), ("allow_renewal_after_expiry", "allowRenewalAfterExpiry")):
        if (linked or {}).get(field):
            out[name] = True
    return out


def _details(key: bytes, kind: str, name: str, row: dict[str, Any]) -> dict[str, Any]:
    """The ca.json object of a provisioner row of a converted type."""
    try:
        details = json.loads(go_bytes(row.get("details")) or b"{}").get(kind) or {}
        converted = {"type": kind, "name": name, **_CONVERTERS[kind](details)}
    except (ValueError, AttributeError, TypeError) as err:
        raise CorruptValue("provisioners", key, f"bad details ({err})") from None
    if claims(row.get("claims")):
        converted["claims"] = claims(row.get("claims"))
    return converted


def import_provisioners(run: Run) -> None:
    for key, value in run.source.entries("provisioners"):
        row = json_object("provisioners", key, value)
        provisioner_id, name = key.decode(errors="replace"), str(row.get("name", ""))
        run.names[provisioner_id] = name
        try:
            deleted = go_time(row.get("deletedAt", "0001-01-01T00:00:00Z"))
            created = go_time(row.get("createdAt", "0001-01-01T00:00:00Z")) or run.now
        except ValueError as err:
            raise CorruptValue("provisioners", key, str(err)) from None
        kind = PROVISIONER_TYPES.get(row.get("type"), "")  # type: ignore[arg-type]
        if deleted is not None:
            run.summary.skip("provisioners", "deleted in step-ca")
            continue
        if kind not in _CONVERTERS:
            run.summary.skip("provisioners", f"of type {kind or row.get('type')} (add it again)")
            continue
        if run.conn.execute(provisioners.select().where(provisioners.c.name == name, provisioners.c.id != provisioner_id,
                                                        provisioners.c.deleted_at.is_(None))).first():
            run.summary.skip("provisioners", "named like another provisioner of the appliance")
            continue
        details = _details(key, kind, name, row)
        inserted = insert_absent(run.conn, provisioners, {"id": provisioner_id, "name": name, "type": kind,
                                                          "details": details, "created_at": created})
        if inserted:
            record_admin_import(run.conn, run.now, "provisioner", provisioner_id,
                                {"id": provisioner_id, "name": name, "type": kind, "details": details})
        run.summary.count("provisioners", inserted)


def import_admins(run: Run) -> None:
    for key, value in run.source.entries("admins"):
        row = json_object("admins", key, value)
        admin_id, provisioner_id = key.decode(errors="replace"), str(row.get("provisionerID", ""))
        try:
            deleted = go_time(row.get("deletedAt", "0001-01-01T00:00:00Z"))
            created = go_time(row.get("createdAt", "0001-01-01T00:00:00Z")) or run.now
        except ValueError as err:
            raise CorruptValue("admins", key, str(err)) from None
        if deleted is not None:
            run.summary.skip("admins", "deleted in step-ca")
            continue
        if run.conn.execute(provisioners.select().where(provisioners.c.id == provisioner_id)).first() is None:
            run.summary.skip("admins", "of a provisioner not imported")
            continue
        admin_type = ADMIN_TYPES.get(row.get("type"), "ADMIN")  # type: ignore[arg-type]
        subject = str(row.get("subject", ""))
        inserted = insert_absent(run.conn, admins, {"id": admin_id, "provisioner_id": provisioner_id,
                                                    "subject": subject, "type": admin_type, "details": {},
                                                    "created_at": created})
        if inserted:
            record_admin_import(run.conn, run.now, "admin", admin_id, {
                "id": admin_id, "provisionerId": provisioner_id, "subject": subject, "type": admin_type})
        run.summary.count("admins", inserted)
