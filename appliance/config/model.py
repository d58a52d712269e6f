"""The ca.json model (step-ca's schema) and the client's defaults.json."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config.audit import AuditConfig
from appliance.config.connections import ConnectionSettings
from appliance.config.console import ConsoleOptions
from appliance.config.logger import LoggerOptions
from appliance.config.ssh import SshConfig
from appliance.config.ssh_templates import SshTemplatesConfig
from appliance.config.tls import TlsOptions

DEFAULT_BACKDATE = datetime.timedelta(minutes=1)
DEFAULT_CRL_CACHE = datetime.timedelta(hours=24)
DEFAULT_RETENTION = datetime.timedelta(minutes=10)
DEFAULT_OCSP_VALIDITY = datetime.timedelta(hours=12)
DEFAULT_OCSP_RESPONDER_VALIDITY = datetime.timedelta(days=7)


@dataclass(frozen=True)
class CrlConfig:
    """``crl``: a CRL signed by the intermediate, served at ``/crl``, valid for
    ``cacheDuration`` and renewed after ``renewPeriod`` (default two thirds of it,
    as step-ca), and at once after a revocation unless ``generateOnRevoke`` is false;
    ``idpURL`` goes into its issuing distribution point."""

    enabled: bool = False
    generate_on_revoke: bool = True
    cache_duration: datetime.timedelta = DEFAULT_CRL_CACHE
    renew_period: datetime.timedelta = DEFAULT_CRL_CACHE * 2 / 3
    idp_url: str = ""
    #: ``rootCRL`` (ours): the root's CRL, signed offline, served at ``/1.0/root.crl``.
    root_crl: Path | None = None


@dataclass(frozen=True)
class OcspConfig:
    """``ocsp`` (ours, not step-ca's): the OCSP responder at ``/ocsp``. Responses are
    valid for ``validity`` and signed again after half of it; ``cacheSize`` bounds the
    responses kept per worker. With ``responderKey`` (a key in the CA's KMS, named as
    ``key`` names the intermediate's) responses are signed by a delegated responder
    whose certificate the CA issues for ``responderValidity`` and renews at half of it.
    ``url`` is the responder's URL put in leaves (default: this CA's ``/ocsp``)."""

    enabled: bool = False
    validity: datetime.timedelta = DEFAULT_OCSP_VALIDITY
    cache_size: int = 100_000
    url: str = ""
    responder_key: str = ""
    responder_validity: datetime.timedelta = DEFAULT_OCSP_RESPONDER_VALIDITY


@dataclass(frozen=True)
class LintConfig:
    """``lint`` (ours): every certificate, CRL and OCSP response is signed first with a
    throw-away key and checked by pkilint; ``mode`` enforce (refuse), warn (log) or off;
    ``profile`` pkix (RFC 5280) or cabf-serverauth (CA/Browser Forum TLS server
    certificates) for certificates."""

    mode: str = "enforce"
    profile: str = "pkix"


@dataclass(frozen=True)
class KmsConfig:
    """``kms``: the backend that holds the intermediate key (``key`` names the key in it)."""

    type: str = "softkms"
    uri: str = ""


@dataclass(frozen=True)
class AuthorityConfig:
    """``authority``: provisioners (raw step-ca JSON objects), authority-level claims and
    name policy (``appliance.policy`` reads it)."""

    provisioners: tuple[dict[str, Any], ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    disable_issued_at_check: bool = False
    backdate: datetime.timedelta = DEFAULT_BACKDATE
    #: ``authority.template``: step-ca's default subject (its ``ASN1DN``), filling the fields
    #: a certificate's subject leaves empty.
    default_subject: dict[str, str] = field(default_factory=dict)
    #: ``authority.enableAdmin``: provisioners and admins live in the database and change
    #: over the admin API (``appliance.admin``); ``provisioners`` are imported on first start.
    enable_admin: bool = False


@dataclass(frozen=True)
class CaConfig:
    """A loaded ca.json. Paths are resolved; ``raw`` is the file as read, kept so
    that writing it back preserves every field (including ones we ignore).
    ``retention`` is ours (``db.retention``, not a step-ca field): how often ``serve``
    purges expired used tokens and ACME state; zero disables the purge."""

    root: tuple[Path, ...]
    crt: Path
    key: str
    address: str
    dns_names: tuple[str, ...]
    authority: AuthorityConfig
    federated_roots: tuple[Path, ...] = ()
    insecure_address: str = ""
    metrics_address: str = ""
    common_name: str = ""
    password: str = ""
    kms: KmsConfig | None = None
    db: dict[str, Any] = field(default_factory=dict)
    retention: datetime.timedelta = DEFAULT_RETENTION
    tls: dict[str, Any] = field(default_factory=dict)
    tls_options: TlsOptions = field(default_factory=TlsOptions)
    logger: dict[str, Any] = field(default_factory=dict)
    logging: LoggerOptions = field(default_factory=LoggerOptions)
    crl: CrlConfig = field(default_factory=CrlConfig)
    ocsp: OcspConfig = field(default_factory=OcspConfig)
    lint: LintConfig = field(default_factory=LintConfig)
    connections: ConnectionSettings = field(default_factory=ConnectionSettings)
    #: ``ssh``: the SSH CA (None: not an SSH CA).
    ssh: SshConfig | None = None
    #: ``templates``: the SSH config templates (None: the built-in defaults).
    ssh_templates: SshTemplatesConfig | None = None
    audit: AuditConfig = field(default_factory=AuditConfig)
    console: ConsoleOptions = field(default_factory=ConsoleOptions)
    path: Path | None = None
    #: Where relative paths resolve ($STEPPATH: the directory above ``config/ca.json``);
    #: provisioners resolve their files (``templateFile``, ...) against it too.
    base_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    notices: tuple[str, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        """The names and addresses tokens may be addressed to (dnsNames plus the
        address host when it names one)."""
        names = [name.lower() for name in self.dns_names]
        host = address_host(self.address)
        if host and host not in names:
            names.append(host)
        return tuple(names)


def address_host(address: str) -> str:
    """The host part of ``host:port`` / ``[v6]:port``; "" for a wildcard bind."""
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]").lower()
    return "" if host in ("", "0.0.0.0", "::") else host


@dataclass(frozen=True)
class DefaultsConfig:
    """``config/defaults.json``: what client commands use by default."""

    ca_url: str
    fingerprint: str
    root: str
    ca_config: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.raw)
        data.update({"ca-url": self.ca_url, "fingerprint": self.fingerprint, "root": self.root})
        if self.ca_config:
            data["ca-config"] = self.ca_config
        return data
