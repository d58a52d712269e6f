"""What one process serves from: the loaded ca.json, its database, its authority
and the API settings."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from appliance.acme import AcmeServer
from appliance.admin import AdminApi
from appliance.api.app import ApiSettings
from appliance.audit.setup import OpenedAuditLog, open_audit_log
from appliance.authority.authority import Authority
from appliance.authority.events import transaction_hook
from appliance.config import CaConfig, load_config, report_notices
from appliance.config.unsupported import refuse_unsupported
from appliance.console import ConsoleSettings, ReadModel, console_app
from appliance.console.audit_source import ChainAuditSource
from appliance.db import SQLDatabase, open_database
from appliance.kms.health import SignerHealth
from appliance.acme.sql_store import SQLAcmeStore
from appliance.scep.store import SQLScepStore
from appliance.provisioner.types import BUILT_TYPES
from appliance.server.remote_management import open_remote_management
from appliance.server.tls import tls_context
from appliance.scep import CaSigner, ScepServer
from appliance.provisioner.scep import SCEPProvisioner


@dataclass
class Runtime:
    """A configuration and the authority built from it; ``close`` releases both."""

    config: CaConfig
    database: SQLDatabase
    authority: Authority
    settings: ApiSettings
    acme: AcmeServer
    scep: ScepServer
    audit: OpenedAuditLog | None = None
    admin: AdminApi | None = None  # the admin API (``authority.enableAdmin``)

    def close(self) -> None:
        self.acme.close()
        self.scep.close()
        self.authority.close()
        if self.audit is not None:
            self.audit.close()
        self.database.close()


def load_checked_config(config_path: Path) -> CaConfig:
    """Load ca.json and refuse what this appliance cannot honour: the settings not
    supported yet (``appliance.config.unsupported``) and TLS suites this OpenSSL lacks."""
    config = load_config(config_path, report=False)
    refuse_unsupported(config.raw, frozenset(BUILT_TYPES))
    tls_context(config.tls_options)
    return config


def open_runtime(config: CaConfig, password: bytes | None, *,
                 started_at: datetime.datetime | None = None) -> Runtime:
    """Open (and migrate) the database of ``config`` and its intermediate key; raises on any error.
    ``started_at``: when the CA started (see ``Authority``)."""
    database = open_database(config.db)
    try:
        authority = Authority.from_config(config, database, password=password, started_at=started_at)
        audit = open_audit_log(config.audit, database.transaction,
                               password=password if password is not None else config.password.encode() or None)
    except BaseException:
        database.close()
        raise
    if audit is not None:
        authority.audit = audit
        database.audit_hook = transaction_hook(audit)
    health = SignerHealth(authority.leaf_signer.signer)
    mounts: tuple[tuple[str, ASGIApp], ...] = ()
    if config.console.enabled:
        console = ConsoleSettings(config.console, ReadModel(database.engine), crl=config.crl, ocsp=config.ocsp,
                                  key_backend=config.kms.type if config.kms else "softkms", health=health,
                                  audit=None if audit is None else ChainAuditSource(audit), audit_sink=authority.audit)
        mounts = (("/console", console_app(authority, console)),)
    settings = ApiSettings(tls_options=config.tls_options, health=health, mounts=mounts)
    try:
        admin = open_remote_management(authority, database) if config.authority.enable_admin else None
        scep = scep_server(authority)
    except BaseException:
        authority.close()
        database.close()
        raise
    return Runtime(config, database, authority, settings, AcmeServer(authority, SQLAcmeStore(database)), scep, audit,
                   admin)


def scep_server(authority: Authority) -> ScepServer:
    """The SCEP core of ``authority``: its SCEP provisioners' decrypters opened through the KMS."""
    ca = CaSigner(authority.intermediates()[0], authority.leaf_signer.signer, authority.config.key,
                  authority.key_manager)
    provisioners = [p for p in authority.provisioner_collection if isinstance(p, SCEPProvisioner)]
    return ScepServer(authority, ca, provisioners, SQLScepStore(authority.database))


def load_runtime(config_path: Path, password: bytes | None, *, report: bool = False,
                 started_at: datetime.datetime | None = None) -> Runtime:
    """``load_checked_config`` then ``open_runtime``; logs the config's notices when ``report``."""
    config = load_checked_config(config_path)
    if report:
        report_notices(config)
    return open_runtime(config, password, started_at=started_at)
