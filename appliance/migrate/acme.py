"""step-ca's ACME tables (``acme/db/nosql``): accounts, External Account Binding keys,
orders and certificates. step-ca keeps accounts outside any provisioner; the appliance
keeps each under one: the provisioner of its orders or of its EAB key, else the
target's only ACME provisioner. Authorizations, challenges and nonces are not carried
over (a new order validates again)."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509

from appliance.acme.renewal import cert_id
from appliance.db.acme_schema import acme_accounts, acme_certificates, acme_eab_keys, acme_orders
from appliance.db.imports import insert_absent
from appliance.jose import InvalidKey, key_from_dict, public_dict, thumbprint
from appliance.migrate.run import Run
from appliance.migrate.values import CorruptValue, go_bytes, go_time, json_object

NO_PROVISIONER = "accounts of no known ACME provisioner (no order, no EAB key, and not one ACME provisioner)"


def _load(run: Run, bucket: str) -> dict[str, tuple[bytes, dict[str, Any]]]:
    return {key.decode(errors="replace"): (key, json_object(bucket, key, value))
            for key, value in run.source.entries(bucket)}


def _time(bucket: str, key: bytes, value: Any) -> datetime.datetime | None:
    try:
        return go_time(value)
    except ValueError as err:
        raise CorruptValue(bucket, key, str(err)) from None


def import_acme(run: Run) -> None:
    accounts = _load(run, "acme_accounts")
    eab_keys = _load(run, "acme_external_account_keys")
    orders = _load(run, "acme_orders")
    provisioner_of: dict[str, str] = {}
    for _, order in orders.values():
        provisioner_of.setdefault(str(order.get("accountID")), run.provisioner_name(str(order.get("provisionerID"))))
    bound_key: dict[str, str] = {}
    for key_id, (_, eab) in eab_keys.items():
        provisioner = _eab_provisioner(run, eab)
        if eab.get("accountID") and provisioner is not None:
            provisioner_of.setdefault(str(eab["accountID"]), provisioner)
            bound_key[str(eab["accountID"])] = key_id
    imported: set[str] = set()
    for account_id, (key, account) in accounts.items():
        provisioner = provisioner_of.get(account_id, run.default_acme)
        if provisioner is None:
            run.summary.skip("ACME accounts", NO_PROVISIONER)
            continue
        try:
            jwk = key_from_dict({k: v for k, v in (account.get("key") or {}).items() if k not in ("use", "alg", "kid")})
        except InvalidKey as err:
            raise CorruptValue("acme_accounts", key, f"bad key ({err})") from None
        created = _time("acme_accounts", key, account.get("createdAt")) or run.now
        run.summary.count("ACME accounts", insert_absent(run.conn, acme_accounts, {
            "id": account_id, "provisioner": provisioner, "thumbprint": thumbprint(jwk), "jwk": public_dict(jwk),
            "contact": list(account.get("contact") or []), "status": str(account.get("status", "valid")),
            "eab_key_id": bound_key.get(account_id), "created_at": created}))
        imported.add(account_id)
    _import_eab_keys(run, eab_keys, imported)
    _import_orders(run, orders, imported)
    _import_certificates(run, imported)


def _eab_provisioner(run: Run, eab: dict[str, Any]) -> str | None:
    """The provisioner of an EAB key: step-ca's id for it, or none for a ca.json provisioner (those have no
    id in step-ca 0.19, and look their keys up under ""): then the target's only ACME provisioner with
    ``requireEAB``."""
    provisioner_id = str(eab.get("provisionerID") or "")
    return run.provisioner_name(provisioner_id) if provisioner_id else run.default_eab


def _import_eab_keys(run: Run, eab_keys: dict[str, tuple[bytes, dict[str, Any]]], accounts: set[str]) -> None:
    """EAB keys by their id (what a client sends as ``kid``); step-ca's ``reference`` has no place here."""
    for key_id, (key, eab) in eab_keys.items():
        account_id = str(eab.get("accountID") or "") or None
        provisioner = _eab_provisioner(run, eab)
        if provisioner is None:
            run.summary.skip("ACME EAB keys", "of no known provisioner (not one ACME provisioner requires EAB)")
            continue
        if account_id is not None and account_id not in accounts:
            run.summary.skip("ACME EAB keys", "bound to an account not imported")
            continue
        try:
            hmac_key = go_bytes(eab.get("key"))
        except ValueError as err:
            raise CorruptValue("acme_external_account_keys", key, str(err)) from None
        run.summary.count("ACME EAB keys", insert_absent(run.conn, acme_eab_keys, {
            "provisioner": provisioner, "key_id": key_id,
            "hmac_key": hmac_key, "account_id": account_id,
            "created_at": _time("acme_external_account_keys", key, eab.get("createdAt")) or run.now,
            "bound_at": _time("acme_external_account_keys", key, eab.get("boundAt"))}))


def _import_orders(run: Run, orders: dict[str, tuple[bytes, dict[str, Any]]], accounts: set[str]) -> None:
    for order_id, (key, order) in orders.items():
        if str(order.get("accountID")) not in accounts:
            run.summary.skip("ACME orders", "of an account not imported")
            continue
        created = _time("acme_orders", key, order.get("createdAt")) or run.now
        run.summary.count("ACME orders", insert_absent(run.conn, acme_orders, {
            "id": order_id, "account_id": str(order["accountID"]),
            "provisioner": run.provisioner_name(str(order.get("provisionerID"))),
            "status": str(order.get("status", "invalid")),
            "expires": _time("acme_orders", key, order.get("expiresAt")) or created,
            "identifiers": [{"type": i.get("type"), "value": i.get("value")} for i in order.get("identifiers") or []],
            "not_before": _time("acme_orders", key, order.get("notBefore")),
            "not_after": _time("acme_orders", key, order.get("notAfter")), "error": order.get("error"),
            "certificate_id": order.get("certificate") or None, "replaces": None, "profile": None,
            "created_at": created}))


def _import_certificates(run: Run, accounts: set[str]) -> None:
    """``acme_certs``: the chain an order's certificate URL serves (leaf PEM, then intermediates)."""
    for key, value in run.source.entries("acme_certs"):
        record = json_object("acme_certs", key, value)
        if str(record.get("accountID")) not in accounts:
            run.summary.skip("ACME certificates", "of an account not imported")
            continue
        try:
            leaf_pem, intermediates = go_bytes(record.get("leaf")), go_bytes(record.get("intermediates"))
            leaf = x509.load_pem_x509_certificate(leaf_pem)
            identifier = cert_id(leaf)
        except (ValueError, x509.ExtensionNotFound) as err:
            raise CorruptValue("acme_certs", key, f"bad certificate ({err})") from None
        run.summary.count("ACME certificates", insert_absent(run.conn, acme_certificates, {
            "id": key.decode(errors="replace"), "account_id": str(record["accountID"]),
            "order_id": str(record.get("orderID", "")), "serial": str(leaf.serial_number), "cert_id": identifier,
            "chain_pem": (leaf_pem + intermediates).decode(), "not_before": leaf.not_valid_before_utc,
            "not_after": leaf.not_valid_after_utc, "replaced_by": None}))
