"""What a provisioner's SSH token authorises (step-ca's ``SignSSHOptions`` in the token's
``step.ssh`` claim): the certificate type, key id, principals and validity it pins."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any


from appliance.errors import BadRequest, Unauthorized
from appliance.pki.duration import parse_time_duration
from appliance.templates import FUNCTIONS, Template

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
