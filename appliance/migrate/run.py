"""One migration's state, shared by the importers of each part of step-ca's datastore."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import Connection

from appliance.db.stepca_source import StepCaSource
from appliance.migrate.summary import Summary


@dataclass
class Run:
    """One migration: the source, the target's transaction, what was done, and the
    provisioner names step-ca's provisioner ids stand for."""

    source: StepCaSource
    conn: Connection
    now: datetime.datetime
    summary: Summary
    names: dict[str, str]
    #: The target's only ACME provisioner, for step-ca accounts no order or EAB key ties to one.
    default_acme: str | None = None
    #: The target's only ACME provisioner that requires EAB, for keys of step-ca's ca.json provisioners.
    default_eab: str | None = None

    def provisioner_name(self, provisioner_id: str) -> str:
        """A provisioner's name from step-ca's id for it (``name:kid`` for JWK, ``acme/name`` for ACME, a UUID with
        remote management)."""
        if provisioner_id in self.names:
            return self.names[provisioner_id]
        for prefix in ("acme/", "scep/", "x5c/", "k8ssa/", "sshpop/", "nebula/"):
            if provisioner_id.startswith(prefix):
                return provisioner_id[len(prefix):]
        return provisioner_id.split(":", 1)[0]
