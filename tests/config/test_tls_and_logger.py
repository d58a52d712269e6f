"""The ``tls`` and ``logger`` sections: step-ca's names and defaults, and a clear
error for a value the appliance cannot honour (at start and on reload, since
``load_runtime`` checks them)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from appliance.config import ConfigError
from appliance.config.logger import LoggerOptions, parse_logger
from appliance.config.tls import TlsOptions, parse_tls
from appliance.errors import BadRequest
from appliance.server.runtime import load_runtime
from tests.ca_fixtures import PASSWORD, build_ca


def test_step_ca_defaults() -> None:
    assert parse_tls({}) == TlsOptions()
    assert parse_tls({"minVersion": 0, "maxVersion": 0, "cipherSuites": []}).to_json() == {
        "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
        "minVersion": 1.2, "maxVersion": 1.3, "renegotiation": False}


def test_names_map_to_openssl() -> None:
    options = parse_tls({"cipherSuites": ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_AES_128_GCM_SHA256",
                                          "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"], "minVersion": 1.2})
    assert options.openssl_tls12_ciphers == "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-SHA"
    assert options.tls13_suites == ("TLS_AES_128_GCM_SHA256",)


@pytest.mark.parametrize(("section", "message"), [
    ({"cipherSuites": ["TLS_MADE_UP"]}, "TLS_MADE_UP is not a valid cipher suite"),
    ({"cipherSuites": "TLS_AES_128_GCM_SHA256"}, "must be a list"),
    ({"minVersion": 1.0}, "'tls.minVersion' 1.0 is not supported"),
    ({"minVersion": 1.1, "maxVersion": 1.2}, "'tls.minVersion' 1.1 is not supported"),
    ({"maxVersion": 2}, "'tls.maxVersion' must be one of 1.2 or 1.3"),
    ({"minVersion": "1.2"}, "'tls.minVersion' must be one of"),
    ({"minVersion": 1.3, "maxVersion": 1.2}, "cannot exceed"),
    ({"cipherSuites": ["TLS_AES_128_GCM_SHA256"]}, "names no TLS 1.2 suite"),
    ({"renegotiation": "no"}, "'tls.renegotiation' must be true or false"),
])
def test_invalid_tls_sections_are_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_tls(section)


def test_only_tls13_suites_are_fine_when_tls12_is_off() -> None:
    assert parse_tls({"cipherSuites": ["TLS_AES_256_GCM_SHA384"], "minVersion": 1.3}).tls13_suites == (
        "TLS_AES_256_GCM_SHA384",)


def _with(tmp_path: Path, **sections: Any) -> Path:
    ca = build_ca(tmp_path)
    data = json.loads(ca.config_path.read_text())
    data.update(sections)
    ca.config_path.write_text(json.dumps(data))
    return ca.config_path


def test_a_suite_this_openssl_lacks_stops_the_ca(tmp_path: Path) -> None:
    path = _with(tmp_path, tls={"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_RC4_128_SHA"]})
    with pytest.raises(BadRequest, match="does not offer RC4-SHA"):
        load_runtime(path, PASSWORD)


@pytest.mark.parametrize(("section", "expected"), [
    ({}, LoggerOptions(logging.INFO, "text")),
    ({"format": "json"}, LoggerOptions(logging.INFO, "json")),
    ({"level": "debug", "format": "text"}, LoggerOptions(logging.DEBUG, "text")),
    ({"level": "Error"}, LoggerOptions(logging.ERROR, "text")),
    ({"level": "warn"}, LoggerOptions(logging.WARNING, "text")),
])
def test_logger_levels_and_formats(section: dict[str, Any], expected: LoggerOptions) -> None:
    assert parse_logger(section) == expected


@pytest.mark.parametrize(("section", "message"), [
    ({"level": "verbose"}, "'logger.level' must be one of"),
    ({"format": "common"}, "'logger.format' 'common' is not supported yet"),
])
def test_invalid_logger_sections_are_refused(tmp_path: Path, section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_runtime(_with(tmp_path, logger=section), PASSWORD)


def test_metrics_address_is_served_without_a_notice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    runtime = load_runtime(_with(tmp_path, metricsAddress="127.0.0.1:9100"), PASSWORD, report=True)
    runtime.close()
    assert runtime.config.metrics_address == "127.0.0.1:9100"  # appliance.server.metrics serves it
    assert not any("metricsAddress" in r.getMessage() for r in caplog.records)


def test_unknown_provisioner_members_get_a_notice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ca = build_ca(tmp_path, provisioner={"madeUp": 1,
                                         "claims": {"maxUserSSHCertDuration": "20h", "disableRenewal": False}})
    caplog.set_level(logging.WARNING)
    load_runtime(ca.config_path, PASSWORD, report=True).close()
    notices = [r.getMessage() for r in caplog.records]
    assert "ca.json: unknown field 'authority.provisioners[0].madeUp' for JWK provisioners; ignored" in notices
    assert not any("disableRenewal" in n or "SSHCertDuration" in n or ".key'" in n or "encryptedKey" in n for n in notices)
