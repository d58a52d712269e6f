"""The provisioner interface: every type turns a credential into sign options
(or a revoke authorisation) and says whether a certificate may be renewed."""

from __future__ import annotations

import abc
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import SSHCertificate

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.policy import NamePolicy, SshPolicy
from appliance.provisioner.audience import Audiences
from appliance.provisioner.claims import Claimer
from appliance.provisioner.extension import ProvisionerExtension
from appliance.provisioner.names import Names
from appliance.provisioner.nebula_cert import NebulaCertificate
from appliance.provisioner.options import SshOptions, X509Options
from appliance.provisioner.renamed import renamed_member
from appliance.provisioner.ssh import SshRequestOptions
from appliance.provisioner.webhooks import webhooks_from_config
from appliance.provisioner.types import ProvisionerType
from appliance.pki.clock import utc_now
from appliance.pki.paths import resolve_path
from appliance.templates import Template


@dataclass(frozen=True)
class ProvisionerContext:
    """What the authority gives every provisioner when it loads them."""

    audiences: Audiences
    root_fingerprint: str
    started_at: datetime.datetime
    claims: Claimer
    now: Callable[[], datetime.datetime] = utc_now
    #: Where a provisioner's relative file paths (``templateFile``, ...) resolve: ca.json's
    #: base directory ($STEPPATH), as step-ca's ``step.Abs``; None: the working directory.
    base_dir: Path | None = None

    def path(self, value: str) -> Path:
        """A file path of a provisioner's configuration, resolved against ``base_dir``."""
        return resolve_path(self.base_dir, value)


@dataclass(frozen=True)
class TokenUse:
    """A verified one-time token: its id and when it stops mattering."""

    token_id: str
    expires_at: datetime.datetime


@dataclass(frozen=True)
class SignOptions:
    """What a verified sign token authorises."""

    provisioner: Provisioner
    subject: str
    names: Names
    token: TokenUse
    #: The credential's own end (an X5C leaf, ...): certificates never outlive it.
    not_after_limit: datetime.datetime | None = None
    #: Any name the request asks for (an OIDC admin, K8sSA): the policies still apply;
    #: an empty ``subject`` then means the request's common name.
    any_name: bool = False
    #: The verified token's claims: the template's ``.Token``.
    claims: dict[str, Any] = field(default_factory=dict)
    #: The certificate that signed the token (X5C's x509 leaf, Nebula's host certificate):
    #: the template's ``.AuthorizationCrt``.
    authorization_certificate: x509.Certificate | NebulaCertificate | None = None


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


@dataclass(frozen=True)
class RevokeAuthorization:
    """A verified revoke token: which serial it names."""

    provisioner: Provisioner
    serial: str
    token: TokenUse
    #: Any serial (an OIDC admin's ID token), not only ``serial``.
    any_serial: bool = False
    #: The SSH certificate whose key signed the token (SSHPOP): the authority checks it is its own.
    ssh_certificate: SSHCertificate | None = None


class Provisioner(abc.ABC):
    """One configured provisioner; built once at load, then shared by requests."""

    kind: ClassVar[ProvisionerType]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        self.config = config
        self.name = str(config["name"])
        self.context = context
        self.claimer = context.claims.merged(config.get("claims"), f"provisioner '{self.name}'")
        self.policy = NamePolicy.from_config(config.get("policy"), f"policy of provisioner '{self.name}'")
        self.x509_options = X509Options.from_config(config.get("options"), f"provisioner '{self.name}'",
                                                    resolve=context.path)
        self.ssh_options = SshOptions.from_config(config.get("options"), f"provisioner '{self.name}'", "ssh",
                                                  resolve=context.path)
        self.ssh_policy = SshPolicy.from_config(config.get("policy"), f"policy of provisioner '{self.name}'")
        self.webhooks = webhooks_from_config(renamed_member(config, "webhooks", f"provisioner '{self.name}'"),
                                             f"provisioner '{self.name}'")
        if self.kind.name != "SCEP" and any(hook.kind == "SCEPCHALLENGE" for hook in self.webhooks):
            raise BadRequest(f"provisioner '{self.name}': SCEPCHALLENGE webhooks are for SCEP provisioners")
        self.lint_mode = _lint_mode(config.get("lint"), f"provisioner '{self.name}'")
        self.allow_must_staple = config.get("allowMustStaple", False)
        if not isinstance(self.allow_must_staple, bool):
            raise BadRequest(f"provisioner '{self.name}': allowMustStaple must be true or false")

    @property
    @abc.abstractmethod
    def credential_id(self) -> str:
        """What identifies the credential within the provisioner (JWK: the kid)."""

    @property
    def id(self) -> str:
        return f"{self.name}:{self.credential_id}"

    @property
    def token_id(self) -> str:
        """How a token finds this provisioner without ``iss``/``kid`` (step-ca's
        ``GetIDForToken``): an audience ``#fragment``, an OIDC client id, a tenant."""
        return self.id

    @property
    def extension(self) -> ProvisionerExtension:
        return ProvisionerExtension(self.kind.code, self.name, self.credential_id)

    @abc.abstractmethod
    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        """Verify a sign token; ``Unauthorized`` if it is not acceptable."""

    @abc.abstractmethod
    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        """Verify a revoke token."""

    def authorize_identity(self, token: UnverifiedToken) -> SignOptions:
        """Verify an SSH sign token as an X.509 sign, for the identity certificate of an
        ``identityCSR`` (step-ca's ``SignIdentityMethod``; its sign audiences include
        ``/ssh/sign``). The token is not spent again: the SSH certificate spent it."""
        return self.authorize_sign(token)

    def authorize_ssh_sign(self, token: UnverifiedToken) -> SshSignOptions:
        """Verify an SSH sign token (``step.ssh`` claims); types without SSH refuse."""
        raise Unauthorized(f"provisioner '{self.name}' ({self.kind.name}) does not sign SSH certificates")

    def authorize_ssh_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        """Verify an SSH revoke token (its subject: the serial, or the key's fingerprint)."""
        raise Unauthorized(f"provisioner '{self.name}' ({self.kind.name}) does not revoke SSH certificates")

    def authorize_ssh_renew(self, token: UnverifiedToken) -> SshPopAuthorization:
        """Verify an SSH renew token (SSHPOP); other types refuse."""
        raise Unauthorized(f"provisioner '{self.name}' ({self.kind.name}) does not renew SSH certificates")

    def authorize_ssh_rekey(self, token: UnverifiedToken) -> SshPopAuthorization:
        """Verify an SSH rekey token (SSHPOP); other types refuse."""
        raise Unauthorized(f"provisioner '{self.name}' ({self.kind.name}) does not rekey SSH certificates")

    def check_ssh_enabled(self) -> None:
        """``Unauthorized`` unless ``claims.enableSSHCA`` (step-ca's message)."""
        if not self.claimer.enable_ssh_ca:
            raise Unauthorized(f"sshCA is disabled for provisioner '{self.name}'")

    def authorize_renew(self, certificate: x509.Certificate, now: datetime.datetime) -> None:
        """Refuse renewal when disabled, or after expiry unless allowed."""
        if self.claimer.disable_renewal:
            raise Unauthorized(f"renewal is disabled for provisioner '{self.name}'")
        if now > certificate.not_valid_after_utc and not self.claimer.allow_renewal_after_expiry:
            raise Unauthorized("the certificate has expired; renewal after expiry is not allowed")

    def encrypted_key(self) -> str | None:
        """The JWE of the provisioner's private key, if it publishes one."""
        return None

    def to_json(self) -> dict[str, Any]:
        """The provisioner as step-ca's ``/provisioners`` lists it (its webhooks in
        ``options.webhooks``, without their secrets)."""
        listed = dict(self.config)
        listed.pop("webhooks", None)
        options = listed.get("options") or {}
        if self.webhooks or "webhooks" in options:
            listed["options"] = {**options, "webhooks": [hook.to_json() for hook in self.webhooks]}
        return listed


LINT_MODES = ("enforce", "warn", "off")


def _lint_mode(value: Any, where: str) -> str | None:
    """A provisioner's ``lint`` (``{"mode": ...}``): its mode overrides the authority's."""
    if value is None:
        return None
    mode = value.get("mode") if isinstance(value, dict) and set(value) <= {"mode"} else None
    if mode not in LINT_MODES:
        raise BadRequest(f"{where}: lint must be {{\"mode\": one of {', '.join(LINT_MODES)}}}")
    return str(mode)


class AudienceProvisioner(Provisioner):
    """A provisioner whose tokens name the CA endpoint in their audience (JWK, X5C, K8sSA,
    Nebula): the identity certificate of an ``/ssh/sign`` is authorised by that token, for
    ``/ssh/sign`` (step-ca's sign audiences include it)."""

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        return self.sign_options(token, "sign")

    def authorize_identity(self, token: UnverifiedToken) -> SignOptions:
        return self.sign_options(token, "ssh/sign")

    @abc.abstractmethod
    def sign_options(self, token: UnverifiedToken, endpoint: str) -> SignOptions:
        """Verify a token for ``endpoint`` as an X.509 sign."""
