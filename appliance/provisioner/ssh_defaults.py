"""step-ca's default SSH authorizations: a token whose subject is the key id (JWK, X5C), and
the cloud identity types' host certificates (AWS, GCP, Azure)."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509

from appliance.provisioner.base import Provisioner, SshSignOptions, TokenUse
from appliance.provisioner.ssh import IID_TEMPLATE, SshRequestOptions, token_ssh_options
from appliance.provisioner.token import string_claim


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
