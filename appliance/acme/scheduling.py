"""Starting challenge validations, and starting again those a dead process left
in processing.

A validation is claimed in the store (pending -> processing, ``processing_since``
= now) before it is queued, so one process runs it. A process that dies
mid-validation leaves the challenge processing; once it has been processing for
longer than a validation can take (``ValidationSettings.stale_after``) any
process claims it again: when the ACME server starts, and whenever the client
reads the authorization or the challenge. Should the first validation still be
running after all, both finish with a compare-and-set from processing, so the
first outcome stands.
"""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import Future
from functools import partial
from typing import Callable

from appliance.acme.challenges import VALIDATORS, ValidationTarget, key_authorization
from appliance.acme.context import Core
from appliance.acme.models import Account, Authorization, Challenge, ChallengeType, Status
from appliance.acme.persist import validate_dns_persist01
from appliance.acme.views import authorization_status
from appliance.errors import NotFound
from appliance.provisioner.acme import ACMEProvisioner

log = logging.getLogger(__name__)


def _stale_before(core: Core) -> datetime.datetime:
    return core.now() - core.settings.validation.stale_after


def _check(core: Core, provisioner: ACMEProvisioner, account: Account, authz: Authorization,
           challenge: Challenge, account_url: str) -> Callable[[], None]:
    """One validation attempt of ``challenge``."""
    target = ValidationTarget(
        http_port=provisioner.challenge_ports["http-01"], tls_alpn_port=provisioner.challenge_ports["tls-alpn-01"],
        resolver=provisioner.challenge_resolver, timeout=core.settings.validation.timeout)
    if challenge.type == ChallengeType.DNS_PERSIST_01:
        return partial(validate_dns_persist01, target, authz.identifier, authz.wildcard, account_url,
                       provisioner.issuer_domain_names, core.now)
    return partial(VALIDATORS[challenge.type], target, authz.identifier, challenge.token,
                   key_authorization(challenge.token, account.thumbprint))


def start(core: Core, provisioner: ACMEProvisioner, account: Account, authz: Authorization,
          challenge: Challenge, account_url: str | None) -> Future[None] | None:
    """Claim the challenge's validation and queue it: the end of its first attempt
    (``Validator.submit``), or None if another request or process has it.
    ``account_url`` is the account's URL as its client addressed the server; without
    it (at start-up) a dns-persist-01 challenge, which checks that URL, waits for
    its client to read it."""
    if account_url is None and challenge.type == ChallengeType.DNS_PERSIST_01:
        return None
    if not core.store.start_challenge(challenge.id, core.now(), _stale_before(core)):
        return None
    check = _check(core, provisioner, account, authz, challenge, account_url or "")
    return core.validator.submit(authz, challenge, check)


def resume(core: Core, provisioner: ACMEProvisioner, account: Account, authz: Authorization,
           account_url: str) -> bool:
    """Start again the authorization's stale validations (if it is still pending); whether any was."""
    if authorization_status(authz, core.now()) != Status.PENDING:
        return False
    stale_before = _stale_before(core)
    stale = [c for c in authz.challenges if c.status == Status.PROCESSING
             and (c.processing_since is None or c.processing_since < stale_before)]
    return any([start(core, provisioner, account, authz, c, account_url) is not None for c in stale])


def resume_all(core: Core) -> int:
    """Start again every stale validation in the store; how many were."""
    resumed = 0
    for challenge_id in core.store.stale_challenges(_stale_before(core), core.now()):
        challenge = core.store.get_challenge(challenge_id)
        authz = core.store.get_authorization(challenge.authorization_id) if challenge else None
        account = core.store.get_account(authz.account_id) if authz else None
        if challenge is None or authz is None or account is None:
            continue
        try:
            provisioner = core.authority.provisioner(account.provisioner)
        except NotFound:
            provisioner = None
        if not isinstance(provisioner, ACMEProvisioner):
            log.warning("challenge %s: provisioner '%s' is no longer an ACME provisioner; left processing",
                        challenge_id, account.provisioner)
            continue
        if start(core, provisioner, account, authz, challenge, None) is not None:
            log.info("challenge %s: validation interrupted by a stopped process; started again", challenge_id)
            resumed += 1
    return resumed
