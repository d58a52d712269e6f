"""``appliance init --insecure-address --ocsp``: the running CA publishes what its
certificates point at. The leaf's CDP and AIA work under ``openssl verify
-crl_check -crl_download``, and the intermediate's AIA caIssuers URL serves the
root (DER) on the plain-HTTP listener, as ``/1.0/root.crt`` does on HTTPS; its
CDP serves the root CRL ``init`` signed, so ``-crl_check_all`` finds both CRLs."""

from __future__ import annotations

import datetime
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from appliance.kms import open_key_manager

from tests.e2e.harness import PASSWORD, csr_pem, free_port, init_ca, new_key, start_server, token, write_pem

pytestmark = pytest.mark.slow


def test_init_with_revocation_urls_serves_them(tmp_path: Path, openssl: Callable[..., Any]) -> None:
    insecure = f"127.0.0.1:{free_port()}"
    ca = init_ca(tmp_path, "--insecure-address", insecure, "--ocsp")
    root = x509.load_pem_x509_certificate(ca.root.read_bytes())
    intermediate = x509.load_pem_x509_certificate(ca.intermediate.read_bytes())
    aia = intermediate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    (root_url,) = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    assert root_url == f"http://localhost:{insecure.rsplit(':', 1)[1]}/1.0/root.crt"
    server = start_server(ca)
    try:
        served = httpx.get(root_url, timeout=10)
        cdp = intermediate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        root_crl = httpx.get(cdp[0].full_name[0].value, timeout=10)
        with ca.client() as client:
            over_https = client.get("/1.0/root.crt")
            response = client.post("/sign", json={"csr": csr_pem("urls.example", new_key()),
                                                  "ott": token(ca, "urls.example")})
            assert response.status_code == 201, response.text
            leaf = write_pem(tmp_path / "leaf.pem", response.json()["crt"])
            # -crl_check_all checks the root too, which names no CDP: its own CRL comes from the file
            verify = ("verify", "-crl_check_all", "-crl_download", "-CRLfile", ca.path / "certs" / "root_ca.crl",
                      "-CAfile", ca.root, "-untrusted", ca.intermediate, leaf)
            openssl(*verify)
            serial = str(x509.load_pem_x509_certificate(leaf.read_bytes()).serial_number)
            revoked = client.post("/1.0/revoke", json={"serial": serial, "reasonCode": 1, "passive": True,
                                                       "ott": token(ca, serial, endpoint="revoke")})
            assert revoked.status_code == 200, revoked.text
        failed = subprocess.run(["openssl", *map(str, verify)], capture_output=True, text=True)
    finally:
        server.stop()
    for response in (served, over_https):
        assert response.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(response.content) == root
    assert root_crl.headers["content-type"] == "application/pkix-crl"
    assert root_crl.content == (ca.path / "certs" / "root_ca.crl").read_bytes()
    assert x509.load_der_x509_crl(root_crl.content).is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert failed.returncode != 0 and "certificate revoked" in failed.stdout + failed.stderr


def _sign_root_crl(ca: Any, number: int) -> bytes:
    """What a later root CRL ceremony produces: a new root CRL, signed by the root key."""
    key = open_key_manager("softkms:", password=PASSWORD.encode()).create_signer(str(ca.path / "secrets" / "root_ca_key"))
    root = x509.load_pem_x509_certificate(ca.root.read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(now)
           .next_update(now + datetime.timedelta(days=30)).add_extension(x509.CRLNumber(number), critical=False)
           .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    return crl.public_bytes(serialization.Encoding.DER)


def test_root_crl_is_replaced_on_sighup_and_bad_files_refuse_to_start(tmp_path: Path) -> None:
    ca = init_ca(tmp_path, "--insecure-address", f"127.0.0.1:{free_port()}")
    root_crl = ca.path / "certs" / "root_ca.crl"
    server = start_server(ca, workers=1)
    try:
        replacement = _sign_root_crl(ca, 2)
        root_crl.write_bytes(replacement)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        with ca.client() as client:
            while client.get("/1.0/root.crl").content != replacement:
                assert time.monotonic() < deadline, "the new root CRL was not served after SIGHUP"
                time.sleep(0.1)
            root_crl.write_bytes(_sign_root_crl(ca, 3)[:-10])  # truncated: not a CRL
            server.signal(signal.SIGHUP)
            while "reload failed" not in server.log():
                assert time.monotonic() < deadline, "the broken root CRL was not refused"
                time.sleep(0.1)
            assert "crl.rootCRL" in server.log() and client.get("/1.0/root.crl").content == replacement
    finally:
        server.stop()
    root_crl.write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="crl.rootCRL"):
        start_server(ca, workers=1)
