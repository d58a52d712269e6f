"""What a provisioner's SSH token authorises (step-ca's ``SignSSHOptions`` in the token's
``step.ssh`` claim): the certificate type, key id, principals and validity it pins."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import SSHCertificate

from appliance.errors import BadRequest, Unauthorized
from appliance.pki.duration import parse_time_duration
from appliance.provisioner.nebula_cert import NebulaCertificate
from appliance.provisioner.token import string_claim
from appliance.templates import FUNCTIONS, Template

if TYPE_CHECKING:
    from appliance.provisioner.base import Provisioner, TokenUse

#: step-ca's ``SSHUserCert`` and ``SSHHostCert``.
CERT_TYPES = ("user", "host")
TimeOrDuration = datetime.datetime | datetime.timedelta
#: The request fields a provisioner may require (step-ca's ``sshCertOptionsRequireValidator``).
REQUEST_FIELDS = ("certType", "keyID", "principals")

#: smallstep/crypto ``sshutil.CertificateRequestTemplate`` (and ``DefaultAdminTemplate``): the
#: certificate the request describes (OIDC admins, K8sSA).
REQUEST_TEMPLATE = Template("ssh-request", """{
	"type": {{ toJson .Insecure.CR.Type }},
	"keyId": {{ toJson .Insecure.CR.KeyID }},
	"principals": {{ toJson .Insecure.CR.Principals }}
{{- if eq .Insecure.CR.Type "user" }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
{{- end }}
}""", FUNCTIONS)

#: smallstep/crypto ``sshutil.DefaultIIDTemplate``: a cloud instance's host certificate, for the
#: request's principals if it names any, else the instance's names.
IID_TEMPLATE = Template("ssh-iid", """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
{{- if .Insecure.CR.Principals }}
	"principals": {{ toJson .Insecure.CR.Principals }},
{{- else }}
	"principals": {{ toJson .Principals }},
{{- end }}
	"extensions": {{ toJson .Extensions }}
}""", FUNCTIONS)


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
    #: What the request must name itself (of ``REQUEST_FIELDS``).
    required: frozenset[str] = frozenset()
    #: The template when ``options.ssh`` names none (``None``: sshutil's ``DefaultTemplate``).
    default_template: Template | None = None
    #: The credential's own end (an X5C leaf, a Nebula certificate): step-ca's ``sshLimitDuration``.
    not_after_limit: datetime.datetime | None = None
    #: The certificate that signed the token: the template's ``.AuthorizationCrt``.
    authorization_certificate: x509.Certificate | NebulaCertificate | None = None


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


def has_ssh_claim(claims: dict[str, Any]) -> bool:
    """Whether the token carries ``step.ssh``."""
    step = claims.get("step")
    return isinstance(step, dict) and step.get("ssh") is not None


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


def ssh_sign_options(provisioner: Provisioner, claims: dict[str, Any], use: TokenUse, *,
                     not_after_limit: datetime.datetime | None = None,
                     authorization_certificate: x509.Certificate | None = None) -> SshSignOptions:
    """step-ca's ``AuthorizeSSHSign`` defaults for a token whose subject is the key id (JWK,
    X5C): a user certificate for the subject, unless ``step.ssh`` says otherwise."""
    pinned = token_ssh_options(claims)
    subject = string_claim(claims, "sub")
    pinned = SshRequestOptions(pinned.cert_type, pinned.key_id or subject, pinned.principals,
                               pinned.valid_after, pinned.valid_before)
    return SshSignOptions(
        provisioner=provisioner, cert_type=pinned.cert_type or "user", key_id=pinned.key_id,
        principals=pinned.principals or (subject,), token=use, pinned=pinned, claims=claims,
        not_after_limit=not_after_limit, authorization_certificate=authorization_certificate,
    )


def instance_ssh_options(provisioner: Provisioner, claims: dict[str, Any], use: TokenUse, key_id: str,
                         principals: list[str], *, custom_principals: bool) -> SshSignOptions:
    """step-ca's SSH options of the cloud identity types (AWS, GCP, Azure): a host certificate
    whose key id is the instance; its principals are the request's, which must name some, or,
    without ``custom_principals`` (``disableCustomSANs``), only among the instance's names."""
    pinned = SshRequestOptions(cert_type="host", principals=() if custom_principals else tuple(principals))
    return SshSignOptions(
        provisioner=provisioner, cert_type="host", key_id=key_id, principals=tuple(principals), token=use,
        pinned=pinned, claims=claims, required=frozenset({"principals"}) if custom_principals else frozenset(),
        default_template=IID_TEMPLATE,
    )
