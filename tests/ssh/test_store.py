"""The SSH store on SQLite and on the real PostgreSQL server: one-time tokens spent with the
record, unique serials, revocations that another instance on the database sees at once."""

from __future__ import annotations

import datetime

import pytest

from appliance.db import open_database
from appliance.db.ssh_store import SQLSshStore, SshCertificateRecord, SshRevocation, SshRevokedKey
from appliance.errors import Conflict
from tests.db.conftest import DbConfigFactory, db_config, mysql_config, postgres_config, sqlite_config  # noqa: F401

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.timezone.utc)


def _record(serial: int) -> SshCertificateRecord:
    return SshCertificateRecord(serial, "host", "web", ("web.internal",), NOW, NOW + datetime.timedelta(days=1),
                                "admin", "ab" * 32, "ssh-ed25519-cert-v01@openssh.com AAAA", NOW)


def test_ssh_store(db_config: DbConfigFactory) -> None:  # noqa: F811
    config = db_config()
    first, second = open_database(config), open_database(config)
    try:
        store, other = SQLSshStore(first), SQLSshStore(second)
        token = ("jti-1", "admin", NOW + datetime.timedelta(minutes=5))
        assert store.record_certificate(_record(2**64 - 1), token)
        assert not other.record_certificate(_record(5), token)  # the token is spent for every instance
        assert other.get_certificate(5) is None
        assert other.get_certificate(2**64 - 1) == _record(2**64 - 1)
        with pytest.raises(Conflict):
            other.record_certificate(_record(2**64 - 1))
        assert [r.serial for r in other.certificates("host", NOW)] == [2**64 - 1]

        before = other.revocation_list().version
        store.revoke_certificate(SshRevocation(2**64 - 1, "Y2E=", 0, "", NOW, "admin"))
        with pytest.raises(Conflict):
            other.revoke_certificate(SshRevocation(2**64 - 1, "Y2E=", 0, "", NOW, "admin"))
        store.revoke_key(SshRevokedKey("cd" * 32, "a2V5", "", NOW, "admin"))
        listed = other.revocation_list()
        assert listed.version == before + 2
        assert [r.serial for r in listed.certificates] == [2**64 - 1] and other.is_key_revoked("cd" * 32)
        assert other.is_revoked(2**64 - 1) and not other.is_revoked(5)
    finally:
        first.close()
        second.close()
