"""EST (RFC 7030) in process: the wire format read back by openssl (``pkcs7
-print_certs``, ``verify``), authentication by basic and bearer secret, the
provisioner's policy, and bad input refused with the RFC's statuses, nothing issued."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select
from starlette.testclient import TestClient

from appliance.api import create_app
from appliance.authority.authority import Authority
from appliance.db import open_database
from appliance.db.schema import certificates
from appliance.errors import BadRequest
from tests.ca_fixtures import PASSWORD, TestCA, build_ca, make_csr

SECRET = "s3cret-enrolment-password"
EST = {"type": "EST", "name": "devices", "secret": SECRET, "username": "device",
       "claims": {"defaultTLSCertDuration": "72h", "maxTLSCertDuration": "72h"},
       "policy": {"x509": {"allow": {"dns": ["*.devices.test"]}}}}
CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"


class Env:
    def __init__(self, ca: TestCA, authority: Authority, http: TestClient) -> None:
        self.ca, self.authority, self.http = ca, authority, http

    def issued(self) -> int:
        with self.authority.database.transaction() as conn:  # type: ignore[attr-defined]
            return conn.scalar(select(func.count()).select_from(certificates)) or 0


def start(tmp_path: Path, *provisioners: dict[str, Any]) -> tuple[TestCA, Authority]:
    ca = build_ca(tmp_path)
    data = json.loads(ca.config_path.read_text())
    data["authority"]["provisioners"].extend(provisioners)
    ca.config_path.write_text(json.dumps(data))
    config = ca.config()
    return ca, Authority.from_config(config, open_database(config.db), password=PASSWORD)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    ca, authority = start(tmp_path, EST, {**EST, "name": "other", "secret": "other-secret", "username": ""})
    yield Env(ca, authority, TestClient(create_app(authority), base_url="https://ca.test"))
    authority.database.close()  # type: ignore[attr-defined]


def pkcs10(name: str, names: list[str] | None = None) -> bytes:
    csr, _ = make_csr(name, names)
    return base64.encodebytes(csr.public_bytes(Encoding.DER))


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def enroll(env: Env, body: bytes, headers: dict[str, str], path: str = "/.well-known/est/devices/simpleenroll") -> Any:
    return env.http.post(path, content=body, headers={"Content-Type": "application/pkcs10", **headers})


def print_certs(body: bytes, tmp_path: Path) -> list[x509.Certificate]:
    """openssl reads the base64 certs-only PKCS#7."""
    der = tmp_path / "reply.p7"
    der.write_bytes(base64.b64decode(body))
    out = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(der), "-print_certs"],
                         capture_output=True, text=True, check=True).stdout
    return x509.load_pem_x509_certificates(out.encode())


def openssl_verify(env: Env, leaf: x509.Certificate, tmp_path: Path) -> None:
    path = tmp_path / "leaf.pem"
    path.write_bytes(leaf.public_bytes(Encoding.PEM))
    result = subprocess.run(["openssl", "verify", "-CAfile", str(env.ca.root_path), "-untrusted",
                             str(env.ca.intermediate_path), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cacerts_is_the_chain_as_certs_only_pkcs7(env: Env, tmp_path: Path) -> None:
    for path in ("/.well-known/est/cacerts", "/.well-known/est/other/cacerts"):
        response = env.http.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == CERTS_ONLY
        assert response.headers["content-transfer-encoding"] == "base64"
        certs = print_certs(response.content, tmp_path)  # a SET OF: DER orders it
        assert sorted(certs, key=lambda c: c.subject.rfc4514_string()) == [env.ca.intermediate, env.ca.root]


@pytest.mark.parametrize("headers,path", [
    (basic("device", SECRET), "/.well-known/est/devices/simpleenroll"),
    ({"Authorization": f"Bearer {SECRET}"}, "/.well-known/est/devices/simpleenroll"),
    (basic("device", SECRET), "/.well-known/est/simpleenroll"),  # no label: the first EST provisioner
])
def test_simpleenroll_issues_under_the_provisioner(env: Env, tmp_path: Path, headers: dict[str, str], path: str) -> None:
    response = enroll(env, pkcs10("cam1.devices.test"), headers, path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CERTS_ONLY
    (leaf,) = print_certs(response.content, tmp_path)
    openssl_verify(env, leaf, tmp_path)
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["cam1.devices.test"]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == 72 * 3600 + 60
    assert b"devices" in leaf.extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")).value.public_bytes()


@pytest.mark.parametrize("body,headers,status,says", [
    (None, {}, 401, "wrong or missing credentials"),
    (None, basic("device", "wrong"), 401, "wrong or missing credentials"),
    (None, basic("intruder", SECRET), 401, "wrong or missing credentials"),
    (None, {"Authorization": "Bearer other-secret"}, 401, "wrong or missing credentials"),
    (None, {"Authorization": "Basic !!!"}, 400, "malformed HTTP basic"),
    (b"not base64 at all ***", None, 400, "base64-encoded DER PKCS#10"),
    (base64.encodebytes(b"garbage DER"), None, 400, "base64-encoded DER PKCS#10"),
    (pkcs10("printer.example.test"), None, 403, "printer.example.test"),
])
def test_bad_enrolments_are_refused_and_nothing_is_issued(env: Env, body: bytes | None, headers: dict[str, str] | None,
                                                          status: int, says: str) -> None:
    response = enroll(env, body or pkcs10("cam2.devices.test"), basic("device", SECRET) if headers is None else headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert says in response.text
    assert SECRET not in response.text
    if status == 401:
        assert response.headers["www-authenticate"] == 'Basic realm="EST"'
    assert env.issued() == 0


def test_wrong_media_type_unknown_label_csrattrs_serverkeygen_reenroll_without_certificate(env: Env) -> None:
    wrong_type = env.http.post("/.well-known/est/devices/simpleenroll", content=pkcs10("a.devices.test"),
                               headers={"Content-Type": "application/json", **basic("device", SECRET)})
    assert (wrong_type.status_code, wrong_type.text) == (400, "the request must be application/pkcs10\n")
    assert env.http.get("/.well-known/est/nope/cacerts").status_code == 404
    assert env.http.get("/.well-known/est/devices/csrattrs").status_code == 204
    keygen = enroll(env, pkcs10("a.devices.test"), basic("device", SECRET), "/.well-known/est/devices/serverkeygen")
    assert keygen.status_code == 400 and "serverKeyGen is false" in keygen.text
    reenroll = enroll(env, pkcs10("a.devices.test"), basic("device", SECRET), "/.well-known/est/devices/simplereenroll")
    assert reenroll.status_code == 401 and "TLS client certificate" in reenroll.text
    assert env.issued() == 0


@pytest.mark.parametrize("fields,says", [
    ({}, "needs a 'secret' or 'roots'"),
    ({"secret": "x", "serverKeyGen": "yes"}, "'serverKeyGen' must be true or false"),
    ({"roots": "not pem"}, "'roots'"),
])
def test_bad_est_provisioners_stop_the_ca(tmp_path: Path, fields: dict[str, Any], says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        start(tmp_path, {"type": "EST", "name": "bad", **fields})
