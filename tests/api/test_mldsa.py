"""Post-quantum certificates: a CA made by ``appliance init --kty ML-DSA`` (root and
intermediate ML-DSA-65 in softkms) issues through the step-ca ``/sign`` API, with a
JWK token, an ML-DSA-44 leaf for an ML-DSA CSR and a P-256 leaf for a classic CSR,
and signs its CRL and OCSP responses with ML-DSA.

Every signature is checked by an implementation that is not ours nor OpenSSL's:
``dilithium-py`` (pure-Python FIPS 204) verifies it over the TBS bytes as RFC 9881
says (pure ML-DSA, empty context); ``cryptography``'s X.509 verifier builds and checks
the chain; the algorithm identifiers are checked byte for byte (no parameters).
Debian 12's OpenSSL 3.0 knows no ML-DSA, so no ``openssl verify`` here."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.verification import PolicyBuilder, Store
from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87
from sqlalchemy import func, select
from starlette.testclient import TestClient

from appliance.api import create_app
from appliance.authority.authority import Authority
from appliance.cli.main import cli
from appliance.config import load_config
from appliance.db import open_database
from appliance.db.schema import certificates
from appliance.db.sql import SQLDatabase
from appliance.jose import decrypt_jwk, sign
from appliance.jose.jwk import JWK
from appliance.lint import Profile, lint_certificate, lint_crl
from tests.ca_fixtures import make_csr

PASSWORD = "pq password"
HOST = "ca.test"
#: DER AlgorithmIdentifiers of RFC 9881: the OID alone, parameters absent.
ALGORITHM_IDS = {
    "ML-DSA-44": bytes.fromhex("300b0609608648016503040311"),
    "ML-DSA-65": bytes.fromhex("300b0609608648016503040312"),
    "ML-DSA-87": bytes.fromhex("300b0609608648016503040313"),
}
DILITHIUM = {"ML-DSA-44": ML_DSA_44, "ML-DSA-65": ML_DSA_65, "ML-DSA-87": ML_DSA_87}


@dataclass
class PqCA:
    path: Path
    root: x509.Certificate
    intermediate: x509.Certificate
    http: TestClient
    provisioner_key: JWK
    database: SQLDatabase

    def certificates(self) -> int:
        with self.database.transaction() as conn:
            return conn.scalar(select(func.count()).select_from(certificates)) or 0

    def token(self, subject: str, endpoint: str = "sign", sans: list[str] | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "admin", "aud": f"https://{HOST}:9443/1.0/{endpoint}", "sub": subject, "nbf": now, "iat": now,
            "exp": now + 300, "jti": uuid.uuid4().hex, "sha": self.root.fingerprint(hashes.SHA256()).hex(),
        }
        if sans is not None:
            claims["sans"] = sans
        return sign(claims, self.provisioner_key)

    def issue(self, subject: str, key: PrivateKeyTypes) -> tuple[x509.Certificate, list[x509.Certificate]]:
        csr, _ = make_csr(subject, [subject], key)
        response = self.http.post("/1.0/sign", json={
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(), "ott": self.token(subject, sans=[subject])})
        assert response.status_code == 201, response.text
        body = response.json()
        return (x509.load_pem_x509_certificate(body["crt"].encode()),
                [x509.load_pem_x509_certificate(pem.encode()) for pem in body["certChain"]][1:])


def dilithium_verifies(signer_public: Any, name: str, tbs: bytes, signature: bytes) -> bool:
    """``dilithium-py``'s FIPS 204 ML-DSA.Verify with an empty context (RFC 9881)."""
    raw = signer_public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return bool(DILITHIUM[name].verify(raw, tbs, signature))


def check_signed(document_tbs: bytes, signature: bytes, der: bytes, issuer: x509.Certificate, name: str) -> None:
    """Signed by ``issuer``'s ML-DSA key (independently), the identifier without parameters."""
    assert dilithium_verifies(issuer.public_key(), name, document_tbs, signature)
    assert der.count(ALGORITHM_IDS[name]) >= 2  # inside the TBS and outside it, identical
    tampered = bytearray(document_tbs)
    tampered[-1] ^= 1
    assert not dilithium_verifies(issuer.public_key(), name, bytes(tampered), signature)


@pytest.fixture(scope="module")
def pq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PqCA]:
    base = tmp_path_factory.mktemp("pq")
    (base / "password").write_text(PASSWORD + "\n")
    result = CliRunner().invoke(cli, [
        "init", "--path", str(base / "ca"), "--name", "PQ", "--dns", HOST, "--address", "127.0.0.1:9443",
        "--provisioner", "admin", "--password-file", str(base / "password"), "--kty", "ML-DSA", "--ocsp"])
    assert result.exit_code == 0, result.output
    config_path = base / "ca" / "config" / "ca.json"
    config = load_config(config_path, report=False)
    database = open_database(config.db)
    authority = Authority.from_config(config, database, password=PASSWORD.encode())
    (provisioner,) = json.loads(config_path.read_text())["authority"]["provisioners"]
    http = TestClient(create_app(authority), base_url=f"https://{HOST}", raise_server_exceptions=False)
    try:
        yield PqCA(base / "ca", x509.load_pem_x509_certificate((base / "ca/certs/root_ca.crt").read_bytes()),
                   x509.load_pem_x509_certificate((base / "ca/certs/intermediate_ca.crt").read_bytes()), http,
                   decrypt_jwk(provisioner["encryptedKey"], PASSWORD.encode()), database)
    finally:
        http.close()
        database.close()


def _chain_verifies(pq: PqCA, leaf: x509.Certificate, name: str) -> None:
    """``cryptography``'s RFC 5280 path validation (it knows ML-DSA) from the root."""
    verifier = (PolicyBuilder().store(Store([pq.root])).time(leaf.not_valid_before_utc)
                .build_server_verifier(x509.DNSName(name)))
    assert verifier.verify(leaf, [pq.intermediate])[-1] == pq.root


def test_init_makes_an_ml_dsa_65_root_and_intermediate(pq: PqCA) -> None:
    assert isinstance(pq.root.public_key(), mldsa.MLDSA65PublicKey)
    assert isinstance(pq.intermediate.public_key(), mldsa.MLDSA65PublicKey)
    for certificate, issuer in ((pq.root, pq.root), (pq.intermediate, pq.root)):
        check_signed(certificate.tbs_certificate_bytes, certificate.signature,
                     certificate.public_bytes(serialization.Encoding.DER), issuer, "ML-DSA-65")
        assert [f for f in lint_certificate(certificate.public_bytes(serialization.Encoding.DER)) if f.is_error] == []
    root_crl = x509.load_der_x509_crl((pq.path / "certs" / "root_ca.crl").read_bytes())
    check_signed(root_crl.tbs_certlist_bytes, root_crl.signature, root_crl.public_bytes(serialization.Encoding.DER),
                 pq.root, "ML-DSA-65")


def test_an_ml_dsa_csr_gets_an_ml_dsa_leaf(pq: PqCA) -> None:
    leaf, chain = pq.issue("pq.example", mldsa.MLDSA44PrivateKey.generate())
    assert chain == [pq.intermediate]
    assert isinstance(leaf.public_key(), mldsa.MLDSA44PublicKey)
    der = leaf.public_bytes(serialization.Encoding.DER)
    check_signed(leaf.tbs_certificate_bytes, leaf.signature, der, pq.intermediate, "ML-DSA-65")
    assert ALGORITHM_IDS["ML-DSA-44"] in leaf.tbs_certificate_bytes  # the subject key's SPKI
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment  # RFC 9881 section 5
    assert [f for f in lint_certificate(der) if f.is_error] == []
    _chain_verifies(pq, leaf, "pq.example")


def test_a_classic_leaf_under_the_ml_dsa_intermediate(pq: PqCA) -> None:
    leaf, _ = pq.issue("classic.example", ec.generate_private_key(ec.SECP256R1()))
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    der = leaf.public_bytes(serialization.Encoding.DER)
    check_signed(leaf.tbs_certificate_bytes, leaf.signature, der, pq.intermediate, "ML-DSA-65")
    assert [f for f in lint_certificate(der) if f.is_error] == []
    _chain_verifies(pq, leaf, "classic.example")


def test_the_crl_is_signed_with_ml_dsa(pq: PqCA) -> None:
    leaf, _ = pq.issue("revoked.example", mldsa.MLDSA87PrivateKey.generate())
    serial = str(leaf.serial_number)
    response = pq.http.post("/1.0/revoke", json={"serial": serial, "ott": pq.token(serial, "revoke"),
                                                 "reasonCode": 1, "passive": True})
    assert response.status_code == 200, response.text
    response = pq.http.get("/1.0/crl")
    assert response.status_code == 200
    der = response.content if response.content[:1] == b"\x30" else x509.load_pem_x509_crl(response.content).public_bytes(
        serialization.Encoding.DER)
    crl = x509.load_der_x509_crl(der)
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    check_signed(crl.tbs_certlist_bytes, crl.signature, der, pq.intermediate, "ML-DSA-65")
    assert [f for f in lint_crl(der) if f.is_error] == []


def test_ocsp_responses_are_signed_with_ml_dsa(pq: PqCA) -> None:
    leaf, _ = pq.issue("ocsp.example", ec.generate_private_key(ec.SECP256R1()))
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, pq.intermediate, hashes.SHA256()).build()
    response = pq.http.post("/1.0/ocsp", content=request.public_bytes(serialization.Encoding.DER),
                            headers={"Content-Type": "application/ocsp-request"})
    assert response.status_code == 200, response.text
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD and answer.serial_number == leaf.serial_number
    assert answer.signature_algorithm_oid.dotted_string == "2.16.840.1.101.3.4.3.18"
    assert dilithium_verifies(pq.intermediate.public_key(), "ML-DSA-65", answer.tbs_response_bytes, answer.signature)
    assert ALGORITHM_IDS["ML-DSA-65"] in response.content


def test_inspect_and_the_console_name_ml_dsa(pq: PqCA) -> None:
    from appliance.client.describe import describe
    from appliance.console.decode import decode

    leaf, _ = pq.issue("named.example", mldsa.MLDSA44PrivateKey.generate())
    described = describe(leaf)
    assert described["subject_key_info"]["key_algorithm"] == "ML-DSA-44"
    assert described["signature_algorithm"] == "ML-DSA-65"
    assert ("Public key", "ML-DSA-44") in decode(leaf).fields


def test_an_ml_dsa_csr_whose_signature_does_not_verify_is_400(pq: PqCA) -> None:
    csr, _ = make_csr("forged.example", ["forged.example"], mldsa.MLDSA65PrivateKey.generate())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    before = pq.certificates()
    response = pq.http.post("/1.0/sign", json={"csr": pem, "ott": pq.token("forged.example", sans=["forged.example"])})
    assert response.status_code == 400, response.text
    assert response.json() == {"status": 400, "message": "invalid csr: bad signature"}
    assert pq.certificates() == before


def test_the_cabf_profile_refuses_ml_dsa_as_the_baseline_requirements_do(pq: PqCA) -> None:
    """The TLS Baseline Requirements allow no ML-DSA yet: pkilint's CA/Browser Forum profile
    says so, rightly, and we keep its finding (only the PKIX profile fits a private PQ CA)."""
    leaf, _ = pq.issue("cabf.example", ec.generate_private_key(ec.SECP256R1()))
    codes = {f.code for f in lint_certificate(leaf.public_bytes(serialization.Encoding.DER), Profile.CABF_SERVERAUTH)
             if f.is_error}
    assert "cabf.serverauth.prohibited_signature_algorithm_encoding" in codes
