"""From key ceremony to online CA: the two-tier ceremony (root key, root, online
key, intermediate, root CRL) runs from files on two SoftHSM2 tokens, then
``appliance init --root --intermediate --intermediate-key-uri`` and ``appliance
serve`` start the online CA on the intermediate key in the online token. Leaves
issued through the API verify to the ceremony root, and the root key is nowhere
on the online side. The ceremony's own outputs (chain, the CRL with its revoked
serials under ``openssl crl -verify``, transcript) are checked in
tests/ceremony/test_two_tier.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509

from appliance.ceremony import run_ceremony
from tests.ceremony.conftest import make_ceremonies
from tests.e2e.harness import csr_pem, init_ca, new_key, start_server, token, write_pem

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


def test_online_ca_from_ceremony_outputs(tmp_path: Path, request: pytest.FixtureRequest,
                                         openssl: Callable[..., Any]) -> None:
    ceremonies = make_ceremonies("softhsm", tmp_path, request)  # root key on one token, online key on another
    files = ceremonies.two_tier()
    # The server's own TLS certificate names localhost and 127.0.0.1, which the test
    # intermediate's name constraints (example.test only, no IP addresses) would forbid.
    intermediate = ceremonies.intermediate()
    del intermediate["certificate"]["name-constraints"]
    ceremonies.write(files[3].name, intermediate)
    assert [run_ceremony(path)["outcome"] for path in files] == ["ok"] * 5
    work, online = ceremonies.folder, ceremonies.online_hsm

    ca = init_ca(tmp_path / "online-ca", "--kms", online.kms, "--root", str(work / "root.crt"),
                 "--intermediate", str(work / "intermediate.crt"),
                 "--intermediate-key-uri", online.key("intermediate-key"))
    server = start_server(ca)
    try:
        with ca.client() as client:
            roots = client.get("/roots").json()["crts"]
            response = client.post("/sign", json={"csr": csr_pem("www.example.test", new_key()),
                                                  "ott": token(ca, "www.example.test")})
    finally:
        server.stop()
    assert response.status_code == 201, response.text
    ceremony_root = x509.load_pem_x509_certificate((work / "root.crt").read_bytes())
    assert [x509.load_pem_x509_certificate(pem.encode()) for pem in roots] == [ceremony_root]
    leaf = write_pem(tmp_path / "leaf.pem", response.json()["crt"])
    openssl("verify", "-x509_strict", "-CAfile", work / "root.crt", "-untrusted", work / "intermediate.crt", leaf)

    # The online side: ca.json names the online key only, no file holds a private key,
    # and the online token holds the intermediate key but not the root key.
    data = ca.data()
    assert data["key"] == online.key("intermediate-key") and data["kms"] == {"type": "pkcs11", "uri": online.kms}
    assert "root-key" not in ca.ca_json.read_text() and not (ca.path / "secrets").exists()
    assert not [path for path in ca.path.rglob("*") if path.is_file() and b"PRIVATE KEY" in path.read_bytes()]
    objects = "\n".join(online.snapshot())
    assert "intermediate-key" in objects and "root-key" not in objects
