"""A CA whose root and intermediate keys live in SoftHSM2: init, serve, issue,
verify with openssl; the server itself signs through PKCS#11."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509

from tests.conftest import SoftHSMToken
from tests.e2e.harness import csr_pem, init_ca, new_key, start_server, token, write_pem

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


def test_softhsm_ca_issues_verifiable_certificates(tmp_path: Path, softhsm_token: SoftHSMToken,
                                                   openssl: Callable[..., Any]) -> None:
    ca = init_ca(tmp_path, "--kms", softhsm_token.kms_uri, "--root-key-uri", "pkcs11:id=0a;object=root",
                 "--intermediate-key-uri", "pkcs11:id=0b;object=intermediate")
    assert not (ca.path / "secrets" / "intermediate_ca_key").exists()
    assert ca.data()["kms"]["type"] == "pkcs11"
    server = start_server(ca, workers=2)
    try:
        with ca.client() as client:
            responses = [client.post("/sign", json={"csr": csr_pem(f"hsm{i}.example", new_key()),
                                                    "ott": token(ca, f"hsm{i}.example")}) for i in range(4)]
    finally:
        server.stop()
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    for index, response in enumerate(responses):
        leaf = write_pem(tmp_path / f"leaf{index}.crt", response.json()["crt"])
        openssl("verify", "-CAfile", ca.root, "-untrusted", ca.intermediate, leaf)
    certificate = x509.load_pem_x509_certificate(responses[0].json()["crt"].encode())
    assert certificate.issuer == x509.load_pem_x509_certificate(ca.intermediate.read_bytes()).subject
