"""The JSON of ACME objects (RFC 8555 section 7.1), and their statuses as of now."""

from __future__ import annotations

import datetime
from typing import Any

from appliance.acme.context import AcmeRequest, rfc3339
from appliance.acme.models import Account, Authorization, Challenge, ChallengeType, Order, Status


def account_json(request: AcmeRequest, account: Account) -> dict[str, Any]:
    return {"status": account.status.value, "contact": list(account.contact),
            "orders": request.links.orders(account.id)}


def challenge_json(request: AcmeRequest, challenge: Challenge) -> dict[str, Any]:
    """dns-persist-01 has no token but the CA's ``issuer-domain-names`` (draft-ietf-acme-dns-persist)."""
    body: dict[str, Any] = {"type": challenge.type.value,
                            "url": request.links.challenge(challenge.authorization_id, challenge.id),
                            "status": challenge.status.value}
    if challenge.type == ChallengeType.DNS_PERSIST_01:
        body["issuer-domain-names"] = list(request.provisioner.issuer_domain_names)
    else:
        body["token"] = challenge.token
    if challenge.validated_at is not None:
        body["validated"] = rfc3339(challenge.validated_at)
    if challenge.error is not None:
        body["error"] = challenge.error
    return body


def authorization_status(authz: Authorization, now: datetime.datetime) -> Status:
    if authz.status in (Status.PENDING, Status.VALID) and authz.expires <= now:
        return Status.EXPIRED
    return authz.status


def authorization_json(request: AcmeRequest, authz: Authorization, now: datetime.datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identifier": authz.identifier.to_json(), "status": authorization_status(authz, now).value,
        "expires": rfc3339(authz.expires), "challenges": [challenge_json(request, c) for c in authz.challenges],
    }
    if authz.wildcard:
        body["wildcard"] = True
    return body


def order_json(request: AcmeRequest, order: Order) -> dict[str, Any]:
    links = request.links
    body: dict[str, Any] = {
        "status": order.status.value, "expires": rfc3339(order.expires),
        "identifiers": [i.to_json() for i in order.identifiers],
        "authorizations": [links.authorization(a) for a in order.authorization_ids],
        "finalize": links.finalize(order.id),
    }
    if order.not_before is not None:
        body["notBefore"] = rfc3339(order.not_before)
    if order.not_after is not None:
        body["notAfter"] = rfc3339(order.not_after)
    if order.error is not None:
        body["error"] = order.error
    if order.certificate_id is not None:
        body["certificate"] = links.certificate(order.certificate_id)
    if order.replaces is not None:
        body["replaces"] = order.replaces
    if order.profile is not None:
        body["profile"] = order.profile
    return body
