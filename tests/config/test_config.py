from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

import pytest

from appliance.config import (
    ConfigError,
    DefaultsConfig,
    load_config,
    load_defaults,
    write_config,
    write_defaults,
)

STEP_CA_JSON = {
    "root": "/etc/step/certs/root_ca.crt",
    "federatedRoots": None,
    "crt": "/etc/step/certs/intermediate_ca.crt",
    "key": "pkcs11:id=7331;object=intermediate-key",
    "kms": {"type": "pkcs11", "uri": "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=ca?pin-value=1"},
    "address": ":9000",
    "insecureAddress": "",
    "dnsNames": ["ca.example.com", "localhost"],
    "logger": {"format": "text"},
    "db": {"type": "badgerv2", "dataSource": "/etc/step/db", "badgerFileLoadingMode": ""},
    "authority": {
        "provisioners": [{"type": "JWK", "name": "admin@example.com", "key": {"kty": "EC"}, "encryptedKey": "x"}],
        "claims": {"maxTLSCertDuration": "48h", "enableSSHCA": True},
        "template": {},
        "backdate": "1m0s",
    },
    "tls": {"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"], "minVersion": 1.2, "maxVersion": 1.3,
            "renegotiation": False},
    "ssh": {"hostKey": "/etc/step/secrets/ssh_host_ca_key"},
    "crl": {"enabled": True, "cacheDuration": "12h0m0s"},
    "madeUpField": 1,
}


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "config" / "ca.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


def test_step_ca_config_loads_and_reports_unsupported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    config = load_config(_write(tmp_path, STEP_CA_JSON))
    assert config.root == (Path("/etc/step/certs/root_ca.crt"),)
    assert config.key == "pkcs11:id=7331;object=intermediate-key"
    assert config.kms is not None and config.kms.type == "pkcs11"
    assert config.dns_names == ("ca.example.com", "localhost")
    assert config.hosts == ("ca.example.com", "localhost")
    assert config.crl.enabled and config.crl.cache_duration == datetime.timedelta(hours=12)
    assert config.authority.backdate == datetime.timedelta(minutes=1)
    assert config.authority.provisioners[0]["name"] == "admin@example.com"
    assert config.db["type"] == "badgerv2"
    notices = [r.getMessage() for r in caplog.records]
    assert not any("ssh" in n or "SSH" in n for n in notices)  # the SSH CA's settings act
    assert config.ssh is not None and config.ssh.host_key == "/etc/step/secrets/ssh_host_ca_key"
    assert any("'authority.template' is a step-ca setting" in n for n in notices)
    assert any("unknown field 'madeUpField'" in n for n in notices)
    assert len(notices) == len(set(notices)) == 2


def test_relative_paths_resolve_against_steppath(tmp_path: Path) -> None:
    data = {**STEP_CA_JSON, "root": "certs/root_ca.crt", "crt": "certs/int.crt", "key": "secrets/int_key", "kms": None}
    config = load_config(_write(tmp_path, data), report=False)
    assert config.root == (tmp_path.resolve() / "certs/root_ca.crt",)
    assert config.key == str(tmp_path.resolve() / "secrets/int_key")
    assert config.kms is None


@pytest.mark.parametrize(("db", "retention"), [
    ({"type": "sqlite"}, datetime.timedelta(minutes=10)),
    ({"type": "sqlite", "retention": "1h30m"}, datetime.timedelta(hours=1, minutes=30)),
    ({"type": "sqlite", "retention": "0"}, datetime.timedelta(0)),
])
def test_db_retention_is_a_duration_ten_minutes_by_default(tmp_path: Path, db: dict, retention: datetime.timedelta
                                                           ) -> None:
    config = load_config(_write(tmp_path, {**STEP_CA_JSON, "db": db}), report=False)
    assert config.retention == retention
    assert config.db == db


def test_address_host_joins_audience_hosts(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, {**STEP_CA_JSON, "address": "10.0.0.1:443"}), report=False)
    assert config.hosts == ("ca.example.com", "localhost", "10.0.0.1")


@pytest.mark.parametrize(("change", "message"), [
    ({"root": None}, "'root' is required"),
    ({"dnsNames": []}, "dnsNames"),
    ({"crt": 5}, "'crt' must be a string"),
    ({"crl": {"enabled": "yes"}}, "crl.enabled"),
    ({"authority": {"provisioners": [{"name": "x"}]}}, "provisioners\\[0\\]"),
    ({"authority": {"backdate": "soon"}}, "authority.backdate"),
    ({"db": {"type": "sqlite", "retention": "often"}}, "db.retention"),
    ({"authority": {"provisioners": [{"type": "JWK", "name": "a"}, {"type": "jwk", "name": "a"}]}}, "duplicate"),
])
def test_invalid_configs_refused(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, {**STEP_CA_JSON, **change}), report=False)


def test_not_json_refused(tmp_path: Path) -> None:
    path = tmp_path / "ca.json"
    path.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)


def test_write_round_trip_keeps_unknown_fields(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, STEP_CA_JSON), report=False)
    out = write_config(config, tmp_path / "copy.json")
    assert out.stat().st_mode & 0o777 == 0o600
    written = json.loads(out.read_text())
    assert written["ssh"] == STEP_CA_JSON["ssh"]
    assert written["madeUpField"] == 1
    assert written["crl"]["cacheDuration"] == "12h0m0s"
    again = load_config(out, report=False)
    assert again.authority == config.authority and again.crl == config.crl and again.key == config.key


def test_defaults_round_trip(tmp_path: Path) -> None:
    defaults = DefaultsConfig(ca_url="https://ca:9000", fingerprint="ab" * 32, root="/r.crt", ca_config="/c.json")
    write_defaults(defaults, tmp_path / "defaults.json")
    loaded = load_defaults(tmp_path / "defaults.json")
    assert (loaded.ca_url, loaded.fingerprint, loaded.root, loaded.ca_config) == ("https://ca:9000", "ab" * 32, "/r.crt", "/c.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="ca-url"):
        load_defaults(tmp_path / "bad.json")
