"""Accounts: create or look up (with External Account Binding), update,
deactivate, and key rollover (RFC 8555 sections 7.3, 7.3.4, 7.3.5)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from appliance.acme.context import AcmeRequest, Core, Reply, Signed
from appliance.acme.jws import FlattenedJws, account_key
from appliance.acme.models import Account, Status, new_id
from appliance.acme.problems import AcmeError, Problem
from appliance.acme.views import account_json
from appliance.errors import Conflict, ErrorKind
from appliance.jose import public_dict, thumbprint
from appliance.jose.jwk import JWK

EAB_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_MAILTO = re.compile(r"^mailto:[^@\s,]+@[^@\s,]+$")


def parse_contact(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise AcmeError(Problem.MALFORMED, "contact must be a list of URLs")
    for contact in value:
        if not contact.startswith("mailto:"):
            raise AcmeError(Problem.UNSUPPORTED_CONTACT, f"only mailto: contacts are supported, not {contact[:64]}")
        if not _MAILTO.match(contact):
            raise AcmeError(Problem.INVALID_CONTACT, f"invalid contact {contact[:64]}")
    return tuple(value)


def same_key(a: JWK, b: JWK) -> bool:
    return hmac.compare_digest(thumbprint(a), thumbprint(b))


class Accounts:
    def __init__(self, core: Core) -> None:
        self._core = core

    def _eab_key(self, request: AcmeRequest, binding: Any, key: JWK, url: str) -> str:
        """Verify an externalAccountBinding JWS over the account key; its key id."""
        jws = FlattenedJws.parse(binding, what="externalAccountBinding")
        alg = jws.string_header("alg")
        if alg not in EAB_HASHES:
            raise AcmeError(Problem.BAD_SIGNATURE_ALGORITHM, "externalAccountBinding must use HS256, HS384 or HS512")
        key_id = jws.string_header("kid")
        if not key_id or jws.string_header("url") != url or "nonce" in jws.protected:
            raise AcmeError(Problem.MALFORMED, "externalAccountBinding needs a kid, the newAccount url and no nonce")
        stored = self._core.store.get_eab_key(request.provisioner.name, key_id)
        if stored is None or stored.account_id is not None:
            raise AcmeError(Problem.UNAUTHORIZED, "external account key is unknown or already used")
        mac = hmac.new(stored.hmac_key, jws.signing_input, EAB_HASHES[alg]).digest()
        if not hmac.compare_digest(mac, jws.signature):
            raise AcmeError(Problem.UNAUTHORIZED, "externalAccountBinding signature does not verify")
        if not same_key(account_key(jws.payload_json()), key):
            raise AcmeError(Problem.UNAUTHORIZED, "externalAccountBinding does not bind the account key")
        return key_id

    def new_account(self, request: AcmeRequest, signed: Signed) -> Reply:
        fields = signed.fields()
        store, provisioner = self._core.store, request.provisioner
        existing = store.account_by_thumbprint(provisioner.name, thumbprint(signed.key))
        if existing is not None:
            if existing.status != Status.VALID:
                raise AcmeError(Problem.UNAUTHORIZED, f"account is {existing.status.value}")
            return Reply(account_json(request, existing), location=request.links.account(existing.id))
        if fields.get("onlyReturnExisting") is True:
            raise AcmeError(Problem.ACCOUNT_DOES_NOT_EXIST, "no account for this key")
        contact = parse_contact(fields.get("contact"))
        binding = fields.get("externalAccountBinding")
        if binding is None and provisioner.require_eab:
            raise AcmeError(Problem.EXTERNAL_ACCOUNT_REQUIRED, "this provisioner requires an external account binding")
        eab_key_id = self._eab_key(request, binding, signed.key, signed.url) if binding is not None else None
        account = Account(id=new_id(), provisioner=provisioner.name, jwk=public_dict(signed.key),
                          thumbprint=thumbprint(signed.key), contact=contact, status=Status.VALID,
                          created_at=self._core.now(), eab_key_id=eab_key_id)
        try:
            stored = store.create_account(account)
        except Conflict as exc:
            raise AcmeError(Problem.UNAUTHORIZED, exc.message) from None
        return Reply(account_json(request, stored), location=request.links.account(stored.id),
                     created=stored.id == account.id)

    def account(self, request: AcmeRequest, signed: Signed, account_id: str) -> Reply:
        """POST-as-GET, contact update or deactivation of the signer's own account."""
        account = signed.owner
        if account.id != account_id:
            raise AcmeError(Problem.UNAUTHORIZED, "the account URL is not the signer's account")
        fields = signed.fields()
        status = fields.get("status")
        if status is not None and status != Status.DEACTIVATED.value:
            raise AcmeError(Problem.MALFORMED, "an account's status can only be set to deactivated")
        if "contact" in fields or status is not None:
            account = self._core.store.update_account(
                account.id, contact=parse_contact(fields["contact"]) if "contact" in fields else None,
                status=Status.DEACTIVATED if status else None)
        return Reply(account_json(request, account), location=request.links.account(account.id))

    def key_change(self, request: AcmeRequest, signed: Signed) -> Reply:
        """Roll the account over to the key that signed the inner JWS."""
        account = signed.owner
        inner = FlattenedJws.parse(signed.fields(), what="keyChange payload")
        if "kid" in inner.protected or "nonce" in inner.protected:
            raise AcmeError(Problem.MALFORMED, "the inner keyChange JWS must carry a jwk, and no kid or nonce")
        new_key = account_key(inner.protected.get("jwk"))
        inner.verify(new_key)
        if inner.string_header("url") != signed.url:
            raise AcmeError(Problem.UNAUTHORIZED, "the inner keyChange JWS url is not the keyChange url")
        payload = inner.payload_json() or {}
        if payload.get("account") != request.links.account(account.id):
            raise AcmeError(Problem.UNAUTHORIZED, "the keyChange payload names another account")
        if not same_key(account_key(payload.get("oldKey")), signed.key):
            raise AcmeError(Problem.UNAUTHORIZED, "oldKey is not the account's current key")
        other = self._core.store.account_by_thumbprint(request.provisioner.name, thumbprint(new_key))
        if other is not None:
            raise AcmeError(Problem.MALFORMED, "another account already uses the new key", kind=ErrorKind.CONFLICT)
        try:
            changed = self._core.store.change_account_key(account.id, account.thumbprint, public_dict(new_key),
                                                          thumbprint(new_key))
        except Conflict as exc:
            raise AcmeError(Problem.MALFORMED, exc.message, kind=ErrorKind.CONFLICT) from None
        if not changed:
            raise AcmeError(Problem.MALFORMED, "the account key changed concurrently", kind=ErrorKind.CONFLICT)
        updated = self._core.store.get_account(account.id)
        assert updated is not None
        return Reply(account_json(request, updated), location=request.links.account(account.id))

