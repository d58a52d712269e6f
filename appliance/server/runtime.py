"""What one process serves from: the loaded ca.json, its database, its authority
and the API settings."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from appliance.acme import AcmeServer
from appliance.api.app import ApiSettings
from appliance.authority.authority import Authority
from appliance.config import CaConfig, load_config
from appliance.config.unsupported import refuse_unsupported
from appliance.db import Database, open_database
from appliance.acme.sql_store import SQLAcmeStore
from appliance.provisioner.types import BUILT_TYPES
from appliance.server.tls import tls_context


@dataclass
class Runtime:
    """A configuration and the authority built from it; ``close`` releases both."""

    config: CaConfig
    database: Database
    authority: Authority
    settings: ApiSettings
    acme: AcmeServer

    def close(self) -> None:
        self.acme.close()
        self.authority.close()
        self.database.close()


def load_runtime(config_path: Path, password: bytes | None, *, report: bool = False,
                 started_at: datetime.datetime | None = None) -> Runtime:
    """Load ca.json, open (and migrate) its database and the intermediate key; raises on any error.
    ``started_at``: when the CA started (see ``Authority``)."""
    config = load_config(config_path, report=report)
    refuse_unsupported(config.raw, frozenset(BUILT_TYPES))
    tls_context(config.tls_options)  # refuses suites this OpenSSL cannot offer, before any worker starts
    database = open_database(config.db)
    try:
        authority = Authority.from_config(config, database, password=password, started_at=started_at)
    except BaseException:
        database.close()
        raise
    return Runtime(config, database, authority, ApiSettings(log_format=config.logging.format,
                                                                tls_options=config.tls_options),
                   AcmeServer(authority, SQLAcmeStore(database)))
