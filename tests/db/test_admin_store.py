"""Provisioners and admins in the database (remote management): CRUD, the one-time
import of ca.json's provisioners, the revision other instances poll, and the change
record, on every engine."""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import secrets

import pytest

from appliance.db import SQLDatabase, open_database
from appliance.db.admin_store import CA_JSON, AdminRecord, AdminStateCache, AdminStore, ProvisionerRecord
from appliance.errors import BadRequest, NotFound
from tests.db import workers
from tests.clock import FakeClock
from tests.db.conftest import DbConfigFactory, mysql_admin

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


BAD_CHANGES = [
    lambda s: s.create_provisioner(ProvisionerRecord("p-9", "admin", "JWK", {}), "x", NOW),  # name taken
    lambda s: s.create_provisioner(ProvisionerRecord("p-1", "new", "JWK", {}), "x", NOW),  # id taken
    lambda s: s.update_provisioner(ProvisionerRecord("p-1", "admin", "OIDC", {}), "x", NOW),  # type changes
    lambda s: s.update_provisioner(ProvisionerRecord("p-1", "acme", "JWK", {}), "x", NOW),  # renamed onto another
    lambda s: s.update_provisioner(ProvisionerRecord("p-0", "zzz", "JWK", {}), "x", NOW),  # no such provisioner
    lambda s: s.create_admin(AdminRecord("a-2", "p-1", "step", "ADMIN"), "x", NOW),  # subject exists
    lambda s: s.create_admin(AdminRecord("a-2", "p-0", "bob", "ADMIN"), "x", NOW),  # no such provisioner
    lambda s: s.update_admin("a-0", "ADMIN", "x", NOW),
    lambda s: s.delete_admin("a-0", "x", NOW),
]


def test_a_refused_change_changes_nothing(store: AdminStore) -> None:
    store.create_provisioner(JWK, "step", NOW)
    store.create_provisioner(ACME, "step", NOW)
    store.create_admin(SUPER, "step", NOW)
    before = (store.provisioners(), store.admins(), store.changes(), store.revision())
    for number, bad_change in enumerate(BAD_CHANGES):
        with pytest.raises((BadRequest, NotFound)):
            bad_change(store)
        assert (store.provisioners(), store.admins(), store.changes(), store.revision()) == before, number


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


def test_another_instance_sees_a_change_within_the_poll_interval(db_config: DbConfigFactory) -> None:
    config = db_config()
    writer, reader = open_database(config), open_database(config)
    clock = FakeClock()
    try:
        cache = AdminStateCache(AdminStore(reader), clock=lambda: clock.elapsed, poll_interval=5)
        assert cache.current().provisioners == ()
        AdminStore(writer).create_provisioner(JWK, "step", NOW)
        clock.advance(4.9)
        assert cache.current().provisioners == ()  # not polled yet
        clock.advance(0.1)
        assert [p.name for p in cache.current().provisioners] == ["admin"]
        assert cache.current().revision == 1
    finally:
        writer.close()
        reader.close()


@pytest.mark.mysql
def test_the_last_good_state_is_served_while_the_database_is_unreachable(
        mysql_config: DbConfigFactory, caplog: pytest.LogCaptureFixture) -> None:
    """A real outage for the reading instance: its MariaDB account is locked and its
    connections killed; then unlocked again."""
    config = mysql_config()
    writer = open_database(config)
    user, password = f"appliance_{secrets.token_hex(4)}", secrets.token_hex(8)
    with mysql_admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL ON `{config['database']}`.* TO '{user}'@'%'")
    source = config["dataSource"].split("@", 1)[1]
    reader = open_database({**config, "dataSource": f"{user}:{password}@{source}"})
    clock = FakeClock()
    try:
        AdminStore(writer).create_provisioner(JWK, "step", NOW)
        cache = AdminStateCache(AdminStore(reader), clock=lambda: clock.elapsed, poll_interval=5)
        with mysql_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"ALTER USER '{user}'@'%' ACCOUNT LOCK")
            cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
            for (connection_id,) in cursor.fetchall():
                cursor.execute(f"KILL {int(connection_id)}")
        AdminStore(writer).create_provisioner(ACME, "step", NOW)
        clock.advance(5)
        with caplog.at_level(logging.WARNING, logger="appliance.db"):
            assert [p.name for p in cache.current().provisioners] == ["admin"]
        assert any("serving revision 1" in r.getMessage() for r in caplog.records)
        assert password not in caplog.text
        with mysql_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"ALTER USER '{user}'@'%' ACCOUNT UNLOCK")
        clock.advance(5)
        assert [p.name for p in cache.current().provisioners] == ["admin", "acme"]
    finally:
        writer.close()
        reader.close()
        with mysql_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_the_authority_policy_is_set_replaced_and_removed_with_its_record(store: AdminStore) -> None:
    policy = {"x509": {"allow": {"dns": ["*.example.com"]}}}
    assert store.authority_policy() is None
    store.set_authority_policy(policy, "step", NOW)
    store.set_authority_policy({"x509": {"deny": {"dns": ["bad.example.com"]}}}, "step", NOW)
    assert store.authority_policy() == {"x509": {"deny": {"dns": ["bad.example.com"]}}}
    store.set_authority_policy(None, "step", NOW)
    assert store.authority_policy() is None and store.revision() == 3
    assert [(c.action, c.before is None, c.after is None) for c in store.changes()] == [
        ("create", True, False), ("update", False, False), ("delete", False, True)]
