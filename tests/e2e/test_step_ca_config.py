"""A ca.json in step-ca's own shape (badgerv2 db, claims, ssh/templates fields we
do not implement, JSON logs) starts unchanged and issues certificates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.harness import csr_pem, init_ca, new_key, start_server, token

pytestmark = pytest.mark.slow


def test_step_ca_shaped_config_serves_with_json_logs(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data.update({
        "db": {"type": "badgerv2", "dataSource": str(ca.path / "db"), "badgerFileLoadingMode": ""},
        "logger": {"format": "json"},
        "ssh": None,
        "templates": {},
        "commonName": "Step Online CA",
    })
    data["authority"].update({"claims": {"defaultTLSCertDuration": "12h", "maxTLSCertDuration": "48h"},
                              "template": {}, "backdate": "1m0s", "enableAdmin": False})
    ca.write(data)
    server = start_server(ca, workers=1)
    try:
        with ca.client() as client:
            response = client.post("/sign", json={"csr": csr_pem("step.example", new_key()),
                                                  "ott": token(ca, "step.example")})
    finally:
        server.stop()
    assert response.status_code == 201, response.text
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    signed = [line for line in lines if line.get("path") == "/sign"]
    assert signed and signed[0]["status"] == 201 and signed[0]["provisioner"] == "admin"
    assert signed[0]["subject"] == "step.example" and signed[0]["outcome"] == "ok"
    assert "ott" not in json.dumps(signed[0]) and token(ca, "x").split(".")[0] not in server.log()
