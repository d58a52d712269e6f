"""The admin API core (step-ca's remote management, ``enableAdmin``): who may call it, and
the changes it makes to the provisioners and admins kept in the database.

Every request carries a one-time admin token (``appliance.authority.admin_token``) of an
admin certificate; its names, with the provisioner that authorised the certificate, must
be an admin's subject. The API itself reads the latest state (one revision read per
request), so an admin sees every change at once on any instance. An ``ADMIN`` manages provisioners, their policies and webhooks and
ACME EAB keys; only a ``SUPER_ADMIN`` changes admins (as step-ca). Every change is
recorded by the store (who, what, before and after) and in the audit log, and is checked
first: a provisioner that would not load is refused and nothing changes."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from appliance.acme.models import EabKey
from appliance.acme.store import AcmeStore
from appliance.provisioner.linkedca import (
    Json, policy_from_linkedca, policy_to_linkedca, provisioner_from_linkedca,
    provisioner_to_linkedca, timestamp, webhook_from_linkedca, webhook_to_linkedca,
)
from appliance.provisioner.renamed import step_ca_names, webhook_list
from appliance.authority.interfaces import AdminAuthorityInterface
from appliance.db.admin_store import AdminRecord, AdminState, AdminStateCache, AdminStore, ProvisionerRecord
from appliance.errors import BadRequest, Conflict, NotFound, Unauthorized
from appliance.policy import NamePolicy

SUPER_ADMIN, ADMIN = "SUPER_ADMIN", "ADMIN"
ADMIN_TYPES = (SUPER_ADMIN, ADMIN)
#: linkedca's ``Admin.Type`` numbers.
ADMIN_TYPE_NUMBERS = {1: ADMIN, 2: SUPER_ADMIN}
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


@dataclass(frozen=True)
class Caller:
    """The admin a request authenticated as, and the provisioner of its certificate."""

    admin: AdminRecord
    provisioner: str

    @property
    def actor(self) -> str:
        """How the change record and the audit log name this admin."""
        return f"admin:{self.admin.subject}@{self.provisioner}"


def page(items: list[Json], key: str, cursor: str, limit: int) -> tuple[list[Json], str]:
    """Items after the one whose ``key`` is ``cursor``, at most ``limit`` (1..100), and the next cursor."""
    limit = DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)
    start = next((i + 1 for i, item in enumerate(items) if item[key] == cursor), 0) if cursor else 0
    chosen = items[start:start + limit]
    return chosen, chosen[-1][key] if start + limit < len(items) and chosen else ""


class AdminApi:
    """The operations of step-ca's ``/admin`` API on this CA's database."""

    def __init__(self, authority: AdminAuthorityInterface, store: AdminStore, state: AdminStateCache,
                 acme: AcmeStore, now: Callable[[], datetime.datetime]) -> None:
        self._authority = authority
        self._store = store
        self._state = state
        self._acme = acme
        self._now = now

    # -- authentication ----------------------------------------------------------------

    def authenticate(self, token: str, path: str, method: str) -> Caller:
        """The admin a request's token proves (``Unauthorized`` otherwise); only a super
        admin may change admins."""
        if not token:
            raise Unauthorized("missing authorization header token")
        credential = self._authority.authorize_admin_token(token, path.lstrip("/"))
        state = self._state.refresh()
        provisioner = _by_name(state, credential.provisioner)
        for name in credential.names:
            found = next((a for a in state.admins if a.provisioner_id == provisioner.id and a.subject == name), None)
            if found is not None:
                break
        else:
            raise Unauthorized(f"no admin with subject(s) {', '.join(credential.names)} "
                               f"and provisioner '{credential.provisioner}'")
        if "/admin/admins" in path and method != "GET" and found.type != SUPER_ADMIN:
            raise Unauthorized("must have super admin access to make this request")
        return Caller(found, credential.provisioner)

    # -- provisioners ------------------------------------------------------------------

    def list_provisioners(self, cursor: str, limit: int) -> Json:
        """``GET /admin/provisioners``: their ca.json objects, as step-ca lists them."""
        listed, next_cursor = page([{**p.details, "_id": p.id} for p in self._state.refresh().provisioners],
                                   "_id", cursor, limit)
        return {"provisioners": [{k: v for k, v in p.items() if k != "_id"} for p in listed],
                "nextCursor": next_cursor}

    def get_provisioner(self, name: str) -> Json:
        record = _by_name(self._state.refresh(), name)
        return provisioner_to_linkedca(record.id, record.details, record.created_at)

    def create_provisioner(self, caller: Caller, message: Any) -> Json:
        config = provisioner_from_linkedca(message)
        state = self._state.refresh()
        record = ProvisionerRecord(str(uuid.uuid4()), config["name"], config["type"], config)
        self._check_loads(state, record)
        self._store.create_provisioner(record, caller.actor, self._now())
        self._changed(caller, "provisioner.create", record.id, record.name)
        return provisioner_to_linkedca(record.id, config, self._now())

    def update_provisioner(self, caller: Caller, name: str, message: Any) -> Json:
        """``PUT /admin/provisioners/{name}``: replace its configuration (type and id stay)."""
        state = self._state.refresh()
        before = _by_name(state, name)
        config = provisioner_from_linkedca(message)
        if config["type"] != before.type:
            raise BadRequest(f"cannot change the type of provisioner '{name}' ({before.type})")
        return self._replace(caller, state, before, config)

    def delete_provisioner(self, caller: Caller, name: str) -> None:
        """Delete a provisioner and its admins; refused if no super admin would remain."""
        state = self._state.refresh()
        record = _by_name(state, name)
        remaining = [a for a in state.admins if a.type == SUPER_ADMIN and a.provisioner_id != record.id]
        if not remaining:
            raise BadRequest(f"cannot remove provisioner '{name}': no super admin would remain")
        self._store.delete_provisioner(record.id, caller.actor, self._now())
        self._changed(caller, "provisioner.delete", record.id, name)

    def _replace(self, caller: Caller, state: AdminState, before: ProvisionerRecord, config: Json) -> Json:
        record = ProvisionerRecord(before.id, config["name"], before.type, config, before.created_at)
        self._check_loads(state, record)
        self._store.update_provisioner(record, caller.actor, self._now())
        self._changed(caller, "provisioner.update", record.id, record.name)
        return provisioner_to_linkedca(record.id, config, record.created_at)

    def _check_loads(self, state: AdminState, record: ProvisionerRecord) -> None:
        """The provisioners as they would be after the change build as the CA builds them."""
        others = [p.details for p in state.provisioners if p.id != record.id]
        try:
            self._authority.build_provisioners([*others, record.details])
        except BadRequest as err:
            raise BadRequest(f"provisioner '{record.name}' would not load: {err.message}") from None

    # -- the authority's policy ---------------------------------------------------------

    def get_authority_policy(self) -> Json:
        policy = self._state.refresh().authority_policy
        if not policy:
            raise NotFound("authority policy does not exist")
        return policy_to_linkedca(policy)

    def set_authority_policy(self, caller: Caller, message: Any, *, create: bool) -> Json:
        """Create (``Conflict`` if one exists) or replace (``NotFound`` if none) the authority
        policy; it replaces ca.json's ``authority.policy`` on every instance. Refused if it
        would lock out the calling admin or a super admin (as step-ca)."""
        state = self._state.refresh()
        exists = state.authority_policy is not None
        if create == exists:
            raise Conflict("authority already has a policy") if create else NotFound("authority policy does not exist")
        policy = policy_from_linkedca(message)
        if not policy:
            raise BadRequest("the policy has no rules")
        subjects = {caller.admin.subject, *(a.subject for a in state.admins if a.type == SUPER_ADMIN)}
        self._authority.check_authority_policy(policy, sorted(subjects))
        self._store.set_authority_policy(policy, caller.actor, self._now())
        self._changed(caller, "policy.update" if exists else "policy.create", "authority", "authority")
        return policy_to_linkedca(policy)

    def delete_authority_policy(self, caller: Caller) -> None:
        if self._state.refresh().authority_policy is None:
            raise NotFound("authority policy does not exist")
        self._store.set_authority_policy(None, caller.actor, self._now())
        self._changed(caller, "policy.delete", "authority", "authority")

    # -- provisioner policy and webhooks ------------------------------------------------

    def get_provisioner_policy(self, name: str) -> Json:
        policy = _by_name(self._state.refresh(), name).details.get("policy")
        if not policy:
            raise NotFound(f"provisioner '{name}' has no policy")
        return policy_to_linkedca(policy)

    def set_provisioner_policy(self, caller: Caller, name: str, message: Any, *, create: bool) -> Json:
        """Create (``Conflict`` if one exists) or replace (``NotFound`` if none) a provisioner's policy."""
        state = self._state.refresh()
        before = _by_name(state, name)
        if create == bool(before.details.get("policy")):
            if create:
                raise Conflict(f"provisioner '{name}' already has a policy")
            raise NotFound(f"provisioner '{name}' has no policy")
        policy = policy_from_linkedca(message)
        if not policy:
            raise BadRequest("the policy has no rules")
        self._replace(caller, state, before, {**before.details, "policy": policy})
        return policy_to_linkedca(policy)

    def delete_provisioner_policy(self, caller: Caller, name: str) -> None:
        state = self._state.refresh()
        before = _by_name(state, name)
        if not before.details.get("policy"):
            raise NotFound(f"provisioner '{name}' has no policy")
        self._replace(caller, state, before, {k: v for k, v in before.details.items() if k != "policy"})

    def set_webhook(self, caller: Caller, name: str, message: Any, webhook: str | None = None) -> Json:
        """Add a webhook (``webhook`` None; a secret is made when none is given) or replace
        the one named ``webhook``."""
        state = self._state.refresh()
        before = _by_name(state, name)
        hook = webhook_from_linkedca(message)
        details = step_ca_names(before.details, f"provisioner '{name}'")
        hooks = webhook_list(details, f"provisioner '{name}'")
        hooks[:] = [h for h in hooks if isinstance(h, dict)]
        names = [h.get("name") for h in hooks]
        if webhook is None:
            if hook.get("name") in names:
                raise Conflict(f"provisioner '{name}' already has a webhook named '{hook.get('name')}'")
            hook.setdefault("id", str(uuid.uuid4()))
            hook.setdefault("secret", base64.b64encode(secrets.token_bytes(64)).decode())
            hooks.append(hook)
        else:
            if webhook not in names:
                raise NotFound(f"provisioner '{name}' has no webhook named '{webhook}'")
            old = hooks[names.index(webhook)]
            hooks[names.index(webhook)] = {**hook, "name": webhook, "id": old.get("id", ""),
                                           "secret": old.get("secret", "")}
        self._replace(caller, state, before, details)
        return webhook_to_linkedca(hooks[-1] if webhook is None else hooks[names.index(webhook)])

    def delete_webhook(self, caller: Caller, name: str, webhook: str) -> None:
        state = self._state.refresh()
        before = _by_name(state, name)
        details = step_ca_names(before.details, f"provisioner '{name}'")
        hooks = webhook_list(details, f"provisioner '{name}'")
        kept = [h for h in hooks if isinstance(h, dict) and h.get("name") != webhook]
        if len(kept) == len(hooks):
            raise NotFound(f"provisioner '{name}' has no webhook named '{webhook}'")
        hooks[:] = kept
        self._replace(caller, state, before, details)

    # -- admins ------------------------------------------------------------------------

    def list_admins(self, cursor: str, limit: int) -> Json:
        listed, next_cursor = page([admin_to_linkedca(a) for a in self._state.refresh().admins], "id", cursor,
                                   limit)
        return {"admins": listed, "nextCursor": next_cursor}

    def get_admin(self, admin_id: str) -> Json:
        return admin_to_linkedca(_admin(self._state.refresh(), admin_id))

    def create_admin(self, caller: Caller, body: Any) -> Json:
        """``POST /admin/admins``: ``{subject, provisioner (name), type}``."""
        if not isinstance(body, dict) or not isinstance(body.get("subject"), str) or not body["subject"]:
            raise BadRequest("the admin needs a subject")
        provisioner = _by_name(self._state.refresh(), str(body.get("provisioner") or ""))
        record = AdminRecord(str(uuid.uuid4()), provisioner.id, body["subject"], _admin_type(body.get("type")))
        self._store.create_admin(record, caller.actor, self._now())
        self._changed(caller, "admin.create", record.id, record.subject)
        return admin_to_linkedca(AdminRecord(record.id, record.provisioner_id, record.subject, record.type,
                                             self._now()))

    def update_admin(self, caller: Caller, admin_id: str, body: Any) -> Json:
        """``PATCH /admin/admins/{id}``: ``{type}``; the last super admin stays one."""
        state = self._state.refresh()
        before = _admin(state, admin_id)
        admin_type = _admin_type(body.get("type") if isinstance(body, dict) else None)
        if before.type == SUPER_ADMIN and admin_type != SUPER_ADMIN:
            _another_super_admin(state, admin_id)
        after = self._store.update_admin(admin_id, admin_type, caller.actor, self._now())
        self._changed(caller, "admin.update", admin_id, after.subject)
        return admin_to_linkedca(after)

    def delete_admin(self, caller: Caller, admin_id: str) -> None:
        state = self._state.refresh()
        before = _admin(state, admin_id)
        if before.type == SUPER_ADMIN:
            _another_super_admin(state, admin_id)
        self._store.delete_admin(admin_id, caller.actor, self._now())
        self._changed(caller, "admin.delete", admin_id, before.subject)

    # -- ACME external account binding keys ----------------------------------------------

    def _acme_provisioner(self, name: str) -> ProvisionerRecord:
        record = _by_name(self._state.refresh(), name)
        if record.type != "ACME":
            raise BadRequest(f"provisioner '{name}' is not an ACME provisioner")
        return record

    def create_eab_key(self, caller: Caller, provisioner: str, body: Any) -> Json:
        """``POST /admin/acme/eab/{provisioner}``: a new key, with an optional unique ``reference``."""
        self._acme_provisioner(provisioner)
        reference = body.get("reference", "") if isinstance(body, dict) else ""
        if not isinstance(reference, str) or len(reference) > 256:
            raise BadRequest("reference must be a string of at most 256 characters")
        if reference and any(k.reference == reference for k in self._acme.list_eab_keys(provisioner)):
            raise Conflict(f"an ACME EAB key with reference '{reference}' already exists")
        key = EabKey(provisioner=provisioner, key_id=secrets.token_urlsafe(24), hmac_key=secrets.token_bytes(32),
                     created_at=self._now(), reference=reference)
        self._acme.add_eab_key(key)
        self._store.record_change(caller.actor, "create", "eab", key.key_id, self._now(), None, _eab_record(key))
        self._changed(caller, "eab.create", key.key_id, provisioner)
        return _eab_json(key)

    def list_eab_keys(self, provisioner: str, reference: str, cursor: str, limit: int) -> Json:
        """``GET /admin/acme/eab/{provisioner}[/{reference}]``: keys without their HMAC secret."""
        self._acme_provisioner(provisioner)
        keys = [k for k in self._acme.list_eab_keys(provisioner) if not reference or k.reference == reference]
        listed, next_cursor = page([{**_eab_json(k), "hmacKey": ""} for k in keys], "id", cursor, limit)
        return {"eaks": listed, "nextCursor": next_cursor}

    def delete_eab_key(self, caller: Caller, provisioner: str, key_id: str) -> None:
        self._acme_provisioner(provisioner)
        before = self._acme.get_eab_key(provisioner, key_id)
        if before is None or not self._acme.remove_eab_key(provisioner, key_id):
            raise NotFound(f"ACME EAB key {key_id} not found")
        self._store.record_change(caller.actor, "delete", "eab", key_id, self._now(), _eab_record(before), None)
        self._changed(caller, "eab.delete", key_id, provisioner)

    # -- ACME account policies (on the EAB key that binds the account) ---------------------

    def _bound_key(self, provisioner: str, by: str, value: str) -> EabKey:
        """The EAB key named by ``key`` id or ``reference``."""
        self._acme_provisioner(provisioner)
        keys = self._acme.list_eab_keys(provisioner)
        found = next((k for k in keys if (k.key_id if by == "key" else k.reference) == value), None)
        if found is None:
            raise NotFound(f"no ACME EAB key with {by} '{value}'")
        return found

    def get_acme_policy(self, provisioner: str, by: str, value: str) -> Json:
        key = self._bound_key(provisioner, by, value)
        if not key.policy:
            raise NotFound("ACME account policy does not exist")
        return policy_to_linkedca(key.policy)

    def set_acme_policy(self, caller: Caller, provisioner: str, by: str, value: str, message: Any, *,
                        create: bool) -> Json:
        """Create (``Conflict`` if one exists) or replace (``NotFound`` if none) the policy of
        the ACME account an EAB key binds: its orders' names must pass it (X.509 only)."""
        key = self._bound_key(provisioner, by, value)
        if create == bool(key.policy):
            raise Conflict("ACME account already has a policy") if create else NotFound(
                "ACME account policy does not exist")
        policy = {"x509": policy_from_linkedca(message).get("x509") or {}}
        if not policy["x509"]:
            raise BadRequest("the policy has no X.509 rules")
        NamePolicy.from_config(policy, "ACME account policy")
        self._acme.set_eab_policy(provisioner, key.key_id, policy)
        self._store.record_change(caller.actor, "update", "eab", key.key_id, self._now(), _eab_record(key),
                                  _eab_record(dataclasses.replace(key, policy=policy)))
        self._changed(caller, "acme_policy.create" if create else "acme_policy.update", key.key_id, provisioner)
        return policy_to_linkedca(policy)

    def delete_acme_policy(self, caller: Caller, provisioner: str, by: str, value: str) -> None:
        key = self._bound_key(provisioner, by, value)
        if not key.policy:
            raise NotFound("ACME account policy does not exist")
        self._acme.set_eab_policy(provisioner, key.key_id, None)
        self._store.record_change(caller.actor, "update", "eab", key.key_id, self._now(), _eab_record(key),
                                  _eab_record(dataclasses.replace(key, policy=None)))
        self._changed(caller, "acme_policy.delete", key.key_id, provisioner)

    # -- helpers -----------------------------------------------------------------------

    def _changed(self, caller: Caller, event: str, object_id: str, name: str) -> None:
        """Serve the change here at once and record it in the audit log (the change record
        with before and after is the store's, in the same transaction as the change)."""
        self._state.refresh()
        self._authority.audit.record(f"admin.{event}", {"actor": caller.actor, "id": object_id, "name": name})


def _by_name(state: AdminState, name: str) -> ProvisionerRecord:
    found = next((p for p in state.provisioners if p.name == name), None)
    if found is None:
        raise NotFound(f"provisioner '{name}' not found")
    return found


def _admin(state: AdminState, admin_id: str) -> AdminRecord:
    found = next((a for a in state.admins if a.id == admin_id), None)
    if found is None:
        raise NotFound(f"admin {admin_id} not found")
    return found


def _admin_type(value: Any) -> str:
    """``SUPER_ADMIN`` or ``ADMIN``, also as linkedca's enum numbers (step's Go client sends those)."""
    value = ADMIN_TYPE_NUMBERS.get(value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if value not in ADMIN_TYPES:
        raise BadRequest(f"admin type must be {' or '.join(ADMIN_TYPES)}")
    return str(value)


def _another_super_admin(state: AdminState, admin_id: str) -> None:
    if not any(a.type == SUPER_ADMIN and a.id != admin_id for a in state.admins):
        raise BadRequest("cannot remove or demote the last super admin")


def _eab_record(key: EabKey) -> Json:
    """An EAB key in the change record (never its HMAC key)."""
    return {"id": key.key_id, "provisioner": key.provisioner, "reference": key.reference, "account": key.account_id,
            "policy": key.policy}


def admin_to_linkedca(admin: AdminRecord) -> Json:
    """An admin as a linkedca ``Admin``."""
    message: Json = {"id": admin.id, "subject": admin.subject, "provisionerId": admin.provisioner_id,
                     "type": admin.type}
    if admin.created_at is not None:
        message["createdAt"] = timestamp(admin.created_at)
    return message


def _eab_json(key: EabKey) -> Json:
    """A key as linkedca's ``EABKey`` (protobuf-JSON: bytes in standard base64)."""
    return {"id": key.key_id, "hmacKey": base64.b64encode(key.hmac_key).decode(), "provisioner": key.provisioner,
            "reference": key.reference, "account": key.account_id or "",
            "createdAt": key.created_at.isoformat(), **({"boundAt": key.bound_at.isoformat()} if key.bound_at else {})}
