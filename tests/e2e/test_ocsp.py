"""The OCSP responder of a running server (2 workers), asked by ``openssl ocsp``
over plain HTTP on the insecure address: good, revoked with its reason, unknown,
the response verified by openssl against the root; RFC 5019 GET with caching headers."""

from __future__ import annotations

import base64
import random
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.e2e.harness import CA, Server, csr_pem, free_port, init_ca, new_key, running_server, token, write_pem

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def responder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ca = init_ca(tmp_path_factory.mktemp("ocsp"))
    data = ca.data()
    data["insecureAddress"] = f"127.0.0.1:{free_port()}"
    data["ocsp"] = {"enabled": True, "validity": "2h"}
    data["crl"] = {"enabled": True}
    ca.write(data)
    with running_server(ca) as running:
        yield running


def _issue(ca: CA, name: str, work: Path) -> tuple[x509.Certificate, Path]:
    with ca.client() as client:
        response = client.post("/1.0/sign", json={"csr": csr_pem(name, new_key()), "ott": token(ca, name)})
    assert response.status_code == 201, response.text
    return x509.load_pem_x509_certificate(response.json()["crt"].encode()), write_pem(work / f"{name}.crt",
                                                                                     response.json()["crt"])


def _url(ca: CA) -> str:
    return f"http://{ca.data()['insecureAddress']}/ocsp"


def _ask(ca: CA, openssl: Callable[..., Any], *target: str | Path) -> str:
    """``openssl ocsp`` with a nonce, the response verified against the root."""
    result = openssl("ocsp", "-issuer", ca.intermediate, *target, "-url", _url(ca), "-CAfile", ca.root,
                     "-resp_text")
    assert "Response verify OK" in result.stderr, result.stderr
    return str(result.stdout)


def test_good_revoked_and_unknown(responder: Server, work: Path, openssl: Callable[..., Any]) -> None:
    ca = responder.ca
    certificate, leaf = _issue(ca, "ocsp.example", work)
    assert f"{leaf}: good" in _ask(ca, openssl, "-cert", leaf)

    with ca.client() as client:
        response = client.post("/1.0/revoke", json={
            "serial": str(certificate.serial_number), "reasonCode": 1, "reason": "key lost", "passive": False,
            "ott": token(ca, str(certificate.serial_number), endpoint="revoke")})
    assert response.status_code == 200, response.text
    for _ in range(4):  # every worker sees it at once, whichever answers
        output = _ask(ca, openssl, "-cert", leaf)
        assert f"{leaf}: revoked" in output and "Reason: keyCompromise" in output

    unknown = str(random.getrandbits(64))
    assert f"{unknown}: unknown" in _ask(ca, openssl, "-serial", unknown)


def test_get_with_rfc5019_caching_headers(responder: Server, work: Path, openssl: Callable[..., Any]) -> None:
    ca = responder.ca
    certificate, _ = _issue(ca, "get.example", work)
    intermediate = x509.load_pem_x509_certificate(ca.intermediate.read_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, intermediate, hashes.SHA1()).build()
    encoded = urllib.parse.quote(base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode(), safe="")
    response = httpx.get(f"{_url(ca)}/{encoded}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    parsed = ocsp.load_der_ocsp_response(response.content)
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
    max_age = int(response.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= 2 * 3600
    assert response.headers["etag"] and response.headers["last-modified"] and response.headers["expires"]
    # openssl reads the DER the GET returned and verifies it.
    der = work / "response.der"
    der.write_bytes(response.content)
    result = openssl("ocsp", "-respin", der, "-CAfile", ca.root, "-issuer", ca.intermediate,
                     "-serial", str(certificate.serial_number))
    assert "Response verify OK" in result.stderr and ": good" in result.stdout


def test_bad_requests_get_ocsp_error_statuses(responder: Server) -> None:
    ca = responder.ca
    garbage = httpx.post(_url(ca), content=b"\x30\x82garbage", timeout=10)
    assert garbage.status_code == 200
    assert ocsp.load_der_ocsp_response(garbage.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    bad_base64 = httpx.get(f"{_url(ca)}/not%20base64!", timeout=10)
    assert ocsp.load_der_ocsp_response(bad_base64.content).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_the_urls_in_the_certificate_work(responder: Server, work: Path, openssl: Callable[..., Any]) -> None:
    """openssl follows the leaf's CDP (-crl_download) and AIA: the CRL, the OCSP
    responder and the CA issuers certificate are where the leaf says."""
    ca = responder.ca
    certificate, leaf = _issue(ca, "urls.example", work)
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    (ocsp_url,) = [d.access_location.value for d in aia if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP]
    (issuer_url,) = [d.access_location.value for d in aia
                     if d.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS]
    verify = ("verify", "-crl_check", "-crl_download", "-CAfile", ca.root, "-untrusted", ca.intermediate, leaf)
    openssl(*verify)
    issuer = httpx.get(issuer_url, timeout=10)
    assert issuer.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(issuer.content) == x509.load_pem_x509_certificate(ca.intermediate.read_bytes())

    with ca.client() as client:
        revoked = client.post("/1.0/revoke", json={
            "serial": str(certificate.serial_number), "reasonCode": 4, "passive": True,
            "ott": token(ca, str(certificate.serial_number), endpoint="revoke")})
    assert revoked.status_code == 200, revoked.text
    result = subprocess.run(["openssl", *map(str, verify)], capture_output=True, text=True)
    assert result.returncode != 0 and "certificate revoked" in result.stdout + result.stderr
    assert f"{leaf}: revoked" in _ask_at(ca, openssl, ocsp_url, "-cert", leaf)


def _ask_at(ca: CA, openssl: Callable[..., Any], url: str, *target: str | Path) -> str:
    result = openssl("ocsp", "-issuer", ca.intermediate, *target, "-url", url, "-CAfile", ca.root)
    assert "Response verify OK" in result.stderr, result.stderr
    return str(result.stdout)
