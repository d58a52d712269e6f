"""What a provisioner's SSH token authorises (step-ca's ``SignSSHOptions`` in the token's
``step.ssh`` claim): the certificate type, key id, principals and validity it pins."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import SSHCertificate

from appliance.errors import BadRequest, Unauthorized
from appliance.pki.duration import parse_time_duration
from appliance.provisioner.token import string_claim

if TYPE_CHECKING:
    from appliance.provisioner.base import Provisioner, TokenUse

#: step-ca's ``SSHUserCert`` and ``SSHHostCert``.
CERT_TYPES = ("user", "host")
TimeOrDuration = datetime.datetime | datetime.timedelta


@dataclass(frozen=True)
class SshRequestOptions:
    """The options of an SSH certificate request or token (empty values: not given)."""

    cert_type: str = ""
    key_id: str = ""
    principals: tuple[str, ...] = ()
    valid_after: TimeOrDuration | None = None
    valid_before: TimeOrDuration | None = None


@dataclass(frozen=True)
class SshSignOptions:
    """A verified SSH sign token: the certificate it lets the template describe (type, key id,
    principals) and the request options it pins (``pinned``)."""

    provisioner: Provisioner
    cert_type: str
    key_id: str
    principals: tuple[str, ...]
    token: TokenUse
    pinned: SshRequestOptions
    #: The verified token's claims: the template's ``.Token``.
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SshPopAuthorization:
    """A verified SSHPOP token: the certificate whose key signed it."""

    provisioner: Provisioner
    certificate: SSHCertificate
    token: TokenUse


def _time(value: Any, name: str) -> TimeOrDuration | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Unauthorized(f"token step.ssh.{name} must be a time or a duration")
    try:
        return parse_time_duration(value)
    except BadRequest as exc:
        raise Unauthorized(f"token step.ssh.{name}: {exc.message}") from None


def token_ssh_options(claims: dict[str, Any]) -> SshRequestOptions:
    """The ``step.ssh`` claim of an SSH token; ``Unauthorized`` if there is none."""
    step = claims.get("step")
    ssh = step.get("ssh") if isinstance(step, dict) else None
    if not isinstance(ssh, dict):
        raise Unauthorized("the token is not an SSH provisioning token (no step.ssh claim)")
    cert_type = ssh.get("certType") or ""
    if cert_type not in ("", *CERT_TYPES):
        raise BadRequest(f"invalid certType '{str(cert_type)[:20]}' in the token")
    key_id = ssh.get("keyID") or ""
    principals = ssh.get("principals") or []
    if not isinstance(key_id, str) or not isinstance(principals, list) or \
            not all(isinstance(p, str) for p in principals):
        raise Unauthorized("token step.ssh: keyID must be a string and principals a list of strings")
    return SshRequestOptions(cert_type, key_id, tuple(principals), _time(ssh.get("validAfter"), "validAfter"),
                             _time(ssh.get("validBefore"), "validBefore"))


def ssh_sign_options(provisioner: Provisioner, claims: dict[str, Any], use: TokenUse) -> SshSignOptions:
    """step-ca's ``AuthorizeSSHSign`` defaults for a token whose subject is the key id:
    a user certificate for the subject, unless ``step.ssh`` says otherwise."""
    pinned = token_ssh_options(claims)
    subject = string_claim(claims, "sub")
    pinned = SshRequestOptions(pinned.cert_type, pinned.key_id or subject, pinned.principals,
                               pinned.valid_after, pinned.valid_before)
    return SshSignOptions(
        provisioner=provisioner, cert_type=pinned.cert_type or "user", key_id=pinned.key_id,
        principals=pinned.principals or (subject,), token=use, pinned=pinned, claims=claims,
    )
