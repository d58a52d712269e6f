"""The serving runtime wires ca.json's ``audit`` into the authority: records go to the
database with ``enabled`` (the default), nowhere with ``enabled: false``."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from appliance.audit import NO_AUDIT
from appliance.server.runtime import load_runtime
from tests.ca_fixtures import PASSWORD, build_ca


def _config(tmp_path: Path, audit: dict[str, object]) -> Path:
    ca = build_ca(tmp_path)
    data = json.loads(ca.config_path.read_text())
    data["audit"] = audit
    ca.config_path.write_text(json.dumps(data))
    return ca.config_path


def test_server_certificates_are_audited_by_default(tmp_path: Path) -> None:
    runtime = load_runtime(_config(tmp_path, {}), PASSWORD)
    try:
        runtime.authority.issue_server_certificate(ec.generate_private_key(ec.SECP256R1()).public_key())
        assert runtime.audit is not None
        [record] = runtime.audit.page().records
        assert record.event == "server.issued" and runtime.audit.verify().ok
    finally:
        runtime.close()


def test_disabled_audit_records_nothing(tmp_path: Path) -> None:
    runtime = load_runtime(_config(tmp_path, {"enabled": False}), PASSWORD)
    try:
        assert runtime.audit is None and runtime.authority.audit is NO_AUDIT
    finally:
        runtime.close()
