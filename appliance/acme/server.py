"""The ACME server core: directory, nonces, JWS request verification, and the
operations on accounts, orders and certificates. No HTTP here: ``appliance.api``
maps requests to these calls and :class:`AcmeError` to problem documents."""

from __future__ import annotations

import datetime
import enum
import secrets
from typing import Any, Callable

from appliance.acme import scheduling
from appliance.acme.accounts import Accounts
from appliance.acme.certificates import Certificates
from appliance.acme.context import AcmeRequest, AcmeSettings, Core, Reply, Signed
from appliance.acme.jws import FlattenedJws, account_key
from appliance.acme.links import Links
from appliance.acme.models import Status
from appliance.acme.orders import Orders
from appliance.acme.problems import AcmeError, Problem
from appliance.acme.renewal import renewal_info
from appliance.acme.store import AcmeStore
from appliance.acme.validation import Validator
from appliance.authority.interfaces import AuthorityInterface
from appliance.errors import ErrorKind, NotFound
from appliance.jose import key_from_dict
from appliance.provisioner.acme import ACMEProvisioner
from appliance.pki.clock import utc_now


class KeyUse(enum.Enum):
    """How a request must identify its signer (RFC 8555 section 6.2)."""

    JWK = "jwk"  # newAccount
    KID = "kid"  # everything an account does
    EITHER = "either"  # revokeCert


class AcmeServer:
    """One per process; thread-safe; ``close`` stops validation. Starting it starts
    again the validations that a stopped process left unfinished."""

    def __init__(self, authority: AuthorityInterface, store: AcmeStore, settings: AcmeSettings | None = None,
                 now: Callable[[], datetime.datetime] = utc_now, sleep: Callable[[float], None] | None = None) -> None:
        """``now`` and ``sleep`` (between validation attempts) are the clock; tests inject a fake one."""
        settings = settings or AcmeSettings()
        self.core = Core(authority, store, settings, Validator(store, settings.validation, now, sleep), now)
        self.accounts = Accounts(self.core)
        self.orders = Orders(self.core)
        self.certificates = Certificates(self.core)
        scheduling.resume_all(self.core)

    def close(self) -> None:
        self.core.validator.close()

    def request(self, origin: str, prefix: str, provisioner_name: str) -> AcmeRequest:
        """The context of a request to ``{origin}{prefix}/{provisioner_name}/...``."""
        try:
            provisioner = self.core.authority.provisioner(provisioner_name)
        except NotFound:
            provisioner = None
        if not isinstance(provisioner, ACMEProvisioner):
            raise AcmeError(Problem.MALFORMED, f"no ACME provisioner named '{provisioner_name[:64]}'",
                            kind=ErrorKind.NOT_FOUND)
        return AcmeRequest(provisioner, Links.for_provisioner(origin, prefix, provisioner_name))

    def directory(self, request: AcmeRequest) -> dict[str, Any]:
        links, provisioner = request.links, request.provisioner
        meta: dict[str, Any] = {"externalAccountRequired": provisioner.require_eab}
        if provisioner.terms_of_service:
            meta["termsOfService"] = provisioner.terms_of_service
        if provisioner.website:
            meta["website"] = provisioner.website
        if provisioner.caa_identities:
            meta["caaIdentities"] = list(provisioner.caa_identities)
        if provisioner.profile_descriptions:
            meta["profiles"] = dict(provisioner.profile_descriptions)
        return {"newNonce": links.new_nonce, "newAccount": links.new_account, "newOrder": links.new_order,
                "revokeCert": links.revoke_cert, "keyChange": links.key_change,
                "renewalInfo": links.renewal_info, "meta": meta}

    def new_nonce(self) -> str:
        nonce = secrets.token_urlsafe(24)
        self.core.store.add_nonce(nonce, self.core.now() + self.core.settings.nonce_lifetime)
        return nonce

    def verify(self, request: AcmeRequest, body: bytes, url: str, key_use: KeyUse = KeyUse.KID) -> Signed:
        """Parse and check a JWS request: algorithm, key (jwk XOR kid), signature,
        url, then (last, so forgeries burn nothing) the nonce."""
        jws = FlattenedJws.parse(body)
        jws.algorithm()
        jwk, kid = jws.protected.get("jwk"), jws.string_header("kid")
        if (jwk is None) == (kid is None):
            raise AcmeError(Problem.MALFORMED, "the JWS must carry exactly one of jwk and kid")
        account = None
        if jwk is not None:
            if key_use == KeyUse.KID:
                raise AcmeError(Problem.MALFORMED, "this request must be signed by an account key (kid)")
            key = account_key(jwk)
        else:
            if key_use == KeyUse.JWK:
                raise AcmeError(Problem.MALFORMED, "newAccount must be signed with a jwk, not a kid")
            account_id = request.links.account_id(kid or "")
            account = self.core.store.get_account(account_id) if account_id else None
            if account is None or account.provisioner != request.provisioner.name:
                raise AcmeError(Problem.ACCOUNT_DOES_NOT_EXIST, "the kid names no account of this provisioner")
            key = key_from_dict(account.jwk)
        jws.verify(key)
        if jws.string_header("url") != url:
            raise AcmeError(Problem.UNAUTHORIZED, "the JWS url is not the request URL")
        nonce = jws.string_header("nonce")
        if not nonce or not self.core.store.use_nonce(nonce, self.core.now()):
            raise AcmeError(Problem.BAD_NONCE, "the nonce is missing, unknown, expired or already used")
        if account is not None and account.status != Status.VALID:
            raise AcmeError(Problem.UNAUTHORIZED, f"the account is {account.status.value}")
        return Signed(payload=jws.payload_json(), url=url, key=key, account=account)

    def renewal_info(self, cert_id: str) -> Reply:
        return renewal_info(self.core, cert_id)
