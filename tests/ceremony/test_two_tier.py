"""The two-tier ceremony (root key, root, online key, intermediate, root CRL)
from files, checked with openssl; a leaf signed by the online HSM's key verifies
to the ceremony root, and the root key never reaches the online side."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.ceremony import run_ceremony, verify_transcript
from appliance.ceremony.errors import LintFailed, OutputExists
from appliance.kms import open_key_manager
from tests.ceremony.chain import issue_leaf
from tests.ceremony.files import Ceremonies
from tests.conftest import run_openssl


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def run_all(files: list[Path]) -> list[dict]:
    return [run_ceremony(path) for path in files]


def test_two_tier_ceremony(ceremonies: Ceremonies) -> None:
    entries = run_all(ceremonies.two_tier())
    work = ceremonies.folder
    assert [e["outcome"] for e in entries] == ["ok"] * 5
    assert [e["ceremony"]["type"] for e in entries] == ["key", "root", "key", "intermediate", "crl"]

    root, intermediate = _cert(work / "root.crt"), _cert(work / "intermediate.crt")
    run_openssl("verify", "-x509_strict", "-check_ss_sig", "-CAfile", work / "root.crt", work / "root.crt")
    run_openssl("verify", "-x509_strict", "-CAfile", work / "root.crt", work / "intermediate.crt")

    assert _ext(root, x509.BasicConstraints).value == x509.BasicConstraints(ca=True, path_length=1)
    root_ku = _ext(root, x509.KeyUsage)
    assert root_ku.critical and root_ku.value.key_cert_sign and root_ku.value.crl_sign
    assert not root_ku.value.digital_signature
    root_ski = _ext(root, x509.SubjectKeyIdentifier).value
    assert root.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384  # P-384 root
    assert 2**64 <= root.serial_number < 2**159

    bc = _ext(intermediate, x509.BasicConstraints)
    assert bc.critical and bc.value == x509.BasicConstraints(ca=True, path_length=0)
    assert _ext(intermediate, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski.digest
    assert intermediate.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384
    assert intermediate.not_valid_after_utc <= root.not_valid_after_utc
    assert _ext(intermediate, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    nc = _ext(intermediate, x509.NameConstraints)
    assert nc.critical and nc.value.permitted_subtrees == [x509.DNSName("example.test")]
    policies = _ext(intermediate, x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.2.1"]
    crl_dp = _ext(intermediate, x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name == [x509.UniformResourceIdentifier("http://pki.example.test/root.crl")]
    online = ceremonies.online_hsm  # the intermediate certifies the online HSM's key
    with open_key_manager(online.kms) as manager:
        assert manager.get_public_key(online.key("intermediate-key")) == intermediate.public_key()

    # The CRL: DER and PEM, signed by the root key, listing both serials.
    listing = run_openssl("crl", "-inform", "DER", "-in", work / "root.crl", "-CAfile", work / "root.crt",
                          "-noout", "-verify", "-text").stdout
    assert "7A3F09C10001" in listing and "0BADC0DE" in listing and "Key Compromise" in listing
    run_openssl("crl", "-in", work / "root.crl.pem", "-CAfile", work / "root.crt", "-noout", "-verify")
    crl = x509.load_der_x509_crl((work / "root.crl").read_bytes())
    assert _ext(crl, x509.CRLNumber).value.crl_number == 1  # type: ignore[arg-type]
    assert {r.serial_number for r in crl} == {0x7A3F09C10001, 0x0BADC0DE}

    # A leaf signed in-process by the HSM intermediate key verifies to the ceremony root.
    issue_leaf(ceremonies.online_hsm, work / "intermediate.crt", work / "leaf.pem")
    run_openssl("verify", "-x509_strict", "-CAfile", work / "root.crt", "-untrusted", work / "intermediate.crt",
                "-purpose", "sslserver", work / "leaf.pem")

    # The online side holds only the intermediate key; the root key stays offline.
    online_objects = "\n".join(online.snapshot())
    assert "intermediate-key" in online_objects and "root-key" not in online_objects

    tokens = [entry["hsm"]["token"] for entry in entries]
    if ceremonies.root_hsm.kms.startswith("pkcs11:"):  # the device's own serial, not just the URI's label
        assert all(token["serial"] and token["manufacturer"] == "SoftHSM project" for token in tokens)
        assert tokens[0]["serial"] != tokens[2]["serial"]  # root and online keys on different tokens

    summary = verify_transcript(work / "transcript.jsonl")
    assert (summary.entries, summary.outputs) == (5, 6)
    assert summary.head == entries[-1]["hash"]


def test_csr_and_cross_csr(ceremonies: Ceremonies) -> None:
    files = ceremonies.two_tier()[:3]
    run_all(files)
    for path in (ceremonies.write("6-csr.yaml", ceremonies.csr()),
                 ceremonies.write("7-cross-csr.yaml", ceremonies.cross_csr())):
        assert run_ceremony(path)["outcome"] == "ok"
    work = ceremonies.folder
    for name in ("intermediate.csr", "root-cross.csr"):
        run_openssl("req", "-in", work / name, "-verify", "-noout")
    csr = x509.load_pem_x509_csr((work / "intermediate.csr").read_bytes())
    assert csr.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert csr.public_key() == serialization.load_pem_public_key((work / "intermediate-key.pub.pem").read_bytes())
    cross = x509.load_pem_x509_csr((work / "root-cross.csr").read_bytes())
    root = _cert(work / "root.crt")
    assert cross.subject == root.subject and cross.public_key() == root.public_key()


def test_rsa_root_is_signed_with_sha256(soft_ceremonies: Ceremonies) -> None:
    c = soft_ceremonies
    run_ceremony(c.write("key.yaml", c.key(spec={"type": "RSA", "size": 2048})))
    run_ceremony(c.write("root.yaml", c.root()))
    root = _cert(c.folder / "root.crt")
    assert root.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    run_openssl("verify", "-x509_strict", "-check_ss_sig", "-CAfile", c.folder / "root.crt", c.folder / "root.crt")


def test_refuses_to_overwrite_outputs(soft_ceremonies: Ceremonies) -> None:
    c = soft_ceremonies
    run_ceremony(c.write("key.yaml", c.key()))
    root_file = c.write("root.yaml", c.root())
    run_ceremony(root_file)
    before = (c.folder / "root.crt").read_bytes(), (c.folder / "transcript.jsonl").read_bytes()
    with pytest.raises(OutputExists, match=r"outputs\.certificate: .*root\.crt exists: refusing to overwrite"):
        run_ceremony(root_file)
    assert ((c.folder / "root.crt").read_bytes(), (c.folder / "transcript.jsonl").read_bytes()) == before


def test_failed_lint_writes_nothing_and_is_recorded(soft_ceremonies: Ceremonies, monkeypatch: pytest.MonkeyPatch) -> None:
    c = soft_ceremonies
    run_ceremony(c.write("key.yaml", c.key()))

    def failing_lint(*args: object) -> list[str]:
        raise LintFailed("lint of the certificate failed: openssl verify")

    monkeypatch.setattr("appliance.ceremony.runner.lint_certificate", failing_lint)
    with pytest.raises(LintFailed):
        run_ceremony(c.write("root.yaml", c.root()))
    assert not (c.folder / "root.crt").exists()
    summary = verify_transcript(c.folder / "transcript.jsonl")
    assert summary.entries == 2
    last = (c.folder / "transcript.jsonl").read_text().splitlines()[-1]
    assert '"outcome":"failed"' in last and "openssl verify" in last and '"step":"sign-certificate"' in last


def test_intermediate_signs_an_empty_crl(soft_ceremonies: Ceremonies) -> None:
    c = soft_ceremonies
    for path in c.two_tier()[:4]:
        run_ceremony(path)
    document = c.crl(revoked=None)
    document["hsm"] = {"kms": c.online_hsm.kms, "key": c.online_hsm.key("intermediate-key")}
    document["inputs"]["issuer-certificate"] = "intermediate.crt"
    document["crl"]["number"] = 2**120
    document["outputs"] = {"crl-der": "intermediate.crl", "crl-pem": "intermediate.crl.pem"}
    entry = run_ceremony(c.write("crl.yaml", document))
    assert entry["crl"] == {"number": 2**120, "revoked": []}
    listing = run_openssl("crl", "-in", c.folder / "intermediate.crl.pem", "-CAfile", c.folder / "intermediate.crt",
                          "-noout", "-verify", "-text").stdout
    assert "No Revoked Certificates" in listing
    crl = x509.load_der_x509_crl((c.folder / "intermediate.crl").read_bytes())
    assert crl.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256  # P-256 intermediate key
