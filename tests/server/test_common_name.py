"""ca.json's ``commonName`` names the CA's own TLS certificate, as in step-ca."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.server.runtime import load_runtime
from tests.ca_fixtures import PASSWORD, build_ca


def _server_common_name(config_path: Path) -> str:
    runtime = load_runtime(config_path, PASSWORD)
    try:
        issued = runtime.authority.issue_server_certificate(ec.generate_private_key(ec.SECP256R1()).public_key())
    finally:
        runtime.close()
    return str(issued.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def test_common_name_names_the_server_certificate(tmp_path: Path) -> None:
    ca = build_ca(tmp_path)
    assert _server_common_name(ca.config_path) == "ca.test"
    data = json.loads(ca.config_path.read_text())
    data["commonName"] = "Step Online CA"
    ca.config_path.write_text(json.dumps(data))
    assert _server_common_name(ca.config_path) == "Step Online CA"
