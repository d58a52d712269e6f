"""Remote management (``authority.enableAdmin``) composed: the provisioners and admins
kept in the database, ca.json's provisioners imported there once, the authority serving
the database's provisioners, and the admin API core."""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Iterable

from appliance.acme.sql_store import SQLAcmeStore
from appliance.admin import SUPER_ADMIN, AdminApi
from appliance.authority.authority import Authority
from appliance.config.errors import ConfigError
from appliance.db import SQLDatabase
from appliance.db.admin_store import CA_JSON, AdminRecord, AdminStateCache, AdminStore, ProvisionerRecord
from appliance.pki.clock import utc_now
from appliance.provisioner.types import provisioner_type

#: How often (seconds) an instance reads the admin revision: another instance's change is
#: served here at most this long (plus one read) after it was made.
POLL_SECONDS = 5.0
#: The first super admin's subject (step-ca's default admin).
DEFAULT_ADMIN_SUBJECT = "step"


def bootstrap(store: AdminStore, provisioners: Iterable[dict[str, Any]], subject: str = DEFAULT_ADMIN_SUBJECT) -> bool:
    """On a database that never had provisioners, import ca.json's and make ``subject`` the
    super admin of the first JWK one (as step-ca does on its first start). True if done now;
    ``ConfigError`` if such a database would get no JWK provisioner (nobody could administer it)."""
    now = utc_now()
    records = [ProvisionerRecord(str(uuid.uuid4()), str(p["name"]), provisioner_type(str(p["type"])).name, dict(p))
               for p in provisioners]
    first_jwk = next((r for r in records if r.type == "JWK"), None)
    if first_jwk is None and not store.provisioners() and not store.changes(limit=1):
        raise ConfigError("ca.json: 'authority.enableAdmin' on a new database needs a JWK provisioner in "
                          "'authority.provisioners' (its admin 'step' is the first super admin)")
    if not store.import_provisioners(records, now) or first_jwk is None:
        return False
    store.create_admin(AdminRecord(str(uuid.uuid4()), first_jwk.id, subject, SUPER_ADMIN), CA_JSON, now)
    return True


def open_remote_management(authority: Authority, database: SQLDatabase,
                           clock: Callable[[], float] = time.monotonic) -> AdminApi:
    """Bootstrap the database's provisioners if needed, serve them, and the admin API core;
    ``clock``: the monotonic clock of the revision polls."""
    store = AdminStore(database)
    bootstrap(store, authority.config.authority.provisioners)
    state = AdminStateCache(store, clock=clock, poll_interval=POLL_SECONDS)
    authority.use_admin_state(state)
    return AdminApi(authority, store, state, SQLAcmeStore(database), utc_now)
