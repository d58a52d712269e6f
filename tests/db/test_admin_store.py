"""Provisioners and admins in the database (remote management): CRUD, the one-time
import of ca.json's provisioners, the revision other instances poll, and the change
record, on every engine."""

from __future__ import annotations

import datetime
import multiprocessing

import pytest

from appliance.db import SQLDatabase, open_database
from appliance.db.admin_store import CA_JSON, AdminRecord, AdminStore, ProvisionerRecord
from appliance.errors import Conflict, NotFound
from tests.db import workers
from tests.db.conftest import DbConfigFactory

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
JWK = ProvisionerRecord("p-1", "admin", "JWK", {"type": "JWK", "name": "admin", "key": {"kty": "EC"}})
ACME = ProvisionerRecord("p-2", "acme", "ACME", {"type": "ACME", "name": "acme"})
SUPER = AdminRecord("a-1", "p-1", "step", "SUPER_ADMIN")


@pytest.fixture
def store(db: SQLDatabase) -> AdminStore:
    return AdminStore(db)


def test_ca_json_provisioners_are_imported_once(store: AdminStore) -> None:
    assert store.import_provisioners([JWK, ACME], NOW) is True
    assert store.import_provisioners([ProvisionerRecord("p-3", "other", "JWK", {})], NOW) is False
    assert [(p.id, p.name, p.type, p.details) for p in store.provisioners()] == [
        (JWK.id, JWK.name, JWK.type, JWK.details), (ACME.id, ACME.name, ACME.type, ACME.details)]
    assert {c.actor for c in store.changes()} == {CA_JSON}


def test_a_database_whose_provisioners_were_all_deleted_is_not_imported_into_again(store: AdminStore) -> None:
    store.import_provisioners([JWK], NOW)
    store.delete_provisioner(JWK.id, "step", NOW)
    assert store.import_provisioners([JWK], NOW) is False
    assert store.provisioners() == []


def test_every_change_bumps_the_revision_and_is_recorded_with_before_and_after(store: AdminStore) -> None:
    assert store.revision() == 0
    store.create_provisioner(JWK, "step", NOW)
    store.create_admin(SUPER, "step", NOW)
    renamed = ProvisionerRecord(JWK.id, "admins", "JWK", {**JWK.details, "name": "admins"})
    store.update_provisioner(renamed, "step", NOW)
    assert store.update_admin(SUPER.id, "ADMIN", "step", NOW).type == "ADMIN"
    assert store.revision() == 4
    changes = store.changes()
    assert [(c.action, c.kind, c.object_id, c.revision) for c in changes] == [
        ("create", "provisioner", "p-1", 1), ("create", "admin", "a-1", 2),
        ("update", "provisioner", "p-1", 3), ("update", "admin", "a-1", 4)]
    assert changes[0].before is None and changes[0].after == {
        "id": "p-1", "name": "admin", "type": "JWK", "details": JWK.details}
    assert (changes[2].before or {})["name"] == "admin" and (changes[2].after or {})["name"] == "admins"
    assert (changes[3].before or {})["type"] == "SUPER_ADMIN" and (changes[3].after or {})["type"] == "ADMIN"
    assert all(c.changed_at == NOW and c.actor == "step" for c in changes)
    assert [c.id for c in store.changes(after_id=changes[1].id)] == [changes[2].id, changes[3].id]


def test_deleting_a_provisioner_deletes_its_admins(store: AdminStore) -> None:
    store.create_provisioner(JWK, "step", NOW)
    store.create_admin(SUPER, "step", NOW)
    store.delete_provisioner(JWK.id, "step", NOW)
    assert store.provisioners() == [] and store.admins() == []
    deletes = [(c.kind, c.object_id, c.after) for c in store.changes() if c.action == "delete"]
    assert deletes == [("admin", "a-1", None), ("provisioner", "p-1", None)]
    with pytest.raises(NotFound):
        store.delete_provisioner(JWK.id, "step", NOW)


@pytest.mark.parametrize("bad_change", [
    lambda s: s.create_provisioner(ProvisionerRecord("p-9", "admin", "JWK", {}), "x", NOW),  # name taken
    lambda s: s.create_provisioner(ProvisionerRecord("p-1", "new", "JWK", {}), "x", NOW),  # id taken
    lambda s: s.update_provisioner(ProvisionerRecord("p-1", "admin", "OIDC", {}), "x", NOW),  # type changes
    lambda s: s.update_provisioner(ProvisionerRecord("p-1", "acme", "JWK", {}), "x", NOW),  # renamed onto another
    lambda s: s.update_provisioner(ProvisionerRecord("p-0", "zzz", "JWK", {}), "x", NOW),  # no such provisioner
    lambda s: s.create_admin(AdminRecord("a-2", "p-1", "step", "ADMIN"), "x", NOW),  # subject exists
    lambda s: s.create_admin(AdminRecord("a-2", "p-0", "bob", "ADMIN"), "x", NOW),  # no such provisioner
    lambda s: s.update_admin("a-0", "ADMIN", "x", NOW),
    lambda s: s.delete_admin("a-0", "x", NOW),
])
def test_a_refused_change_changes_nothing(store: AdminStore, bad_change: object) -> None:
    store.create_provisioner(JWK, "step", NOW)
    store.create_provisioner(ACME, "step", NOW)
    store.create_admin(SUPER, "step", NOW)
    before = (store.provisioners(), store.admins(), store.changes(), store.revision())
    with pytest.raises((Conflict, NotFound)):
        bad_change(store)  # type: ignore[operator]
    assert (store.provisioners(), store.admins(), store.changes(), store.revision()) == before


def test_instances_starting_together_import_ca_json_once(db_config: DbConfigFactory) -> None:
    """Two processes sharing the database import ca.json's provisioners at the same moment."""
    config = db_config()
    open_database(config).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as pool:
        imported = pool.starmap(workers.import_provisioners, [(config, start)] * 4)
    assert sorted(imported) == [False, False, False, True]
    database = open_database(config)
    try:
        assert len(AdminStore(database).provisioners()) == 2
    finally:
        database.close()
