"""``appliance init``: step-ca's layout, a verifiable chain, an encrypted provisioner
key, keys on disk, in SoftHSM2, or an existing root reused; the online CA of a key
ceremony (no root key), refused with nothing written when its outputs do not fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

from appliance.cli.main import cli
from appliance.config import load_config, load_defaults
from appliance.jose import decrypt_jwk, public_dict
from appliance.kms import KeyType, open_key_manager
from appliance.kms.softkms import encrypted_pem
from tests.api.pki import FakePKI, make_certificate
from tests.conftest import SoftHSMToken

PASSWORD = "correct horse"


def _invoke(tmp_path: Path, *extra: str | Path, name: bool = True) -> Result:
    """``appliance init`` of ``tmp_path/ca`` with the test password (and ``--name Test`` if ``name``)."""
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    return CliRunner().invoke(cli, [
        "init", "--path", str(tmp_path / "ca"), *(["--name", "Test"] if name else []), "--dns", "ca.test",
        "--dns", "127.0.0.1", "--address", "127.0.0.1:9443", "--provisioner", "admin",
        "--password-file", str(password_file), *map(str, extra),
    ])


def _init(tmp_path: Path, *extra: str | Path) -> tuple[Path, str]:
    result = _invoke(tmp_path, *extra)
    assert result.exit_code == 0, result.output
    return tmp_path / "ca", result.output


def _basic_constraints(certificate: x509.Certificate) -> x509.BasicConstraints:
    return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value


def _check_pki(ca: Path, openssl: Callable[..., object]) -> tuple[x509.Certificate, x509.Certificate]:
    root_file, intermediate_file = ca / "certs" / "root_ca.crt", ca / "certs" / "intermediate_ca.crt"
    openssl("verify", "-CAfile", root_file, intermediate_file)
    root = x509.load_pem_x509_certificate(root_file.read_bytes())
    intermediate = x509.load_pem_x509_certificate(intermediate_file.read_bytes())
    assert _basic_constraints(root).path_length == 1 and _basic_constraints(intermediate).path_length == 0
    assert isinstance(intermediate.public_key(), ec.EllipticCurvePublicKey)
    assert (intermediate.not_valid_after_utc - intermediate.not_valid_before_utc).days >= 3649
    config = load_config(ca / "config" / "ca.json")
    assert config.dns_names == ("ca.test", "127.0.0.1") and config.address == "127.0.0.1:9443"
    assert config.db == {"type": "sqlite", "dataSource": str(ca / "db" / "appliance.sqlite")}
    (provisioner,) = config.authority.provisioners
    key = decrypt_jwk(provisioner["encryptedKey"], PASSWORD.encode())
    assert public_dict(key) == provisioner["key"] and provisioner["type"] == "JWK"
    defaults = load_defaults(ca / "config" / "defaults.json")
    assert defaults.ca_url == "https://ca.test:9443"
    assert defaults.fingerprint == root.fingerprint(hashes.SHA256()).hex()
    return root, intermediate


def test_init_with_softkms(tmp_path: Path, openssl: Callable[..., object]) -> None:
    ca, output = _init(tmp_path)
    root, intermediate = _check_pki(ca, openssl)
    assert root.fingerprint(hashes.SHA256()).hex() in output
    for name in ("root_ca_key", "intermediate_ca_key"):
        key_file = ca / "secrets" / name
        assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes() and key_file.stat().st_mode & 0o077 == 0
    config = load_config(ca / "config" / "ca.json")
    assert config.key == str(ca / "secrets" / "intermediate_ca_key") and config.kms is None
    signer = open_key_manager("softkms:", password=PASSWORD.encode()).create_signer(config.key)
    assert signer.public_key() == intermediate.public_key()


def test_init_refuses_an_initialised_directory(tmp_path: Path) -> None:
    ca, _ = _init(tmp_path)
    before = (ca / "config" / "ca.json").read_bytes()
    result = CliRunner().invoke(cli, ["init", "--path", str(ca), "--name", "T", "--dns", "x", "--address", ":1",
                                      "--provisioner", "p", "--password-file", str(tmp_path / "password")])
    assert result.exit_code == 1 and "refusing to overwrite" in result.output
    assert (ca / "config" / "ca.json").read_bytes() == before


@pytest.mark.hsm
def test_init_with_keys_in_softhsm(tmp_path: Path, softhsm_token: SoftHSMToken,
                                   openssl: Callable[..., object]) -> None:
    ca, _ = _init(tmp_path, "--kms", softhsm_token.kms_uri, "--root-key-uri", "pkcs11:id=01;object=root-key",
                  "--intermediate-key-uri", "pkcs11:id=02;object=intermediate-key")
    _, intermediate = _check_pki(ca, openssl)
    assert not (ca / "secrets" / "root_ca_key").exists() and not (ca / "secrets" / "intermediate_ca_key").exists()
    data = json.loads((ca / "config" / "ca.json").read_text())
    assert data["key"] == "pkcs11:id=02;object=intermediate-key"
    assert data["kms"] == {"type": "pkcs11", "uri": softhsm_token.kms_uri}
    with open_key_manager(softhsm_token.kms_uri) as manager:
        assert manager.get_public_key(data["key"]) == intermediate.public_key()


@pytest.mark.parametrize(
    ("key_format", "cert_encoding", "key_encoding"),
    [(serialization.PrivateFormat.TraditionalOpenSSL, serialization.Encoding.DER, serialization.Encoding.PEM),
     (serialization.PrivateFormat.PKCS8, serialization.Encoding.PEM, serialization.Encoding.DER)],
    ids=["sec1-pem-key-der-cert", "pkcs8-der-key-pem-cert"],
)
def test_init_reuses_an_existing_root(tmp_path: Path, openssl: Callable[..., object],
                                      key_format: serialization.PrivateFormat,
                                      cert_encoding: serialization.Encoding,
                                      key_encoding: serialization.Encoding) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    root = make_certificate("Existing Root", key, None, key, ca=True)
    (tmp_path / "root.crt").write_bytes(root.public_bytes(cert_encoding))
    (tmp_path / "root.key").write_bytes(key.private_bytes(key_encoding, key_format, serialization.NoEncryption()))
    ca, _ = _init(tmp_path, "--root", str(tmp_path / "root.crt"), "--key", str(tmp_path / "root.key"))
    assert x509.load_pem_x509_certificate((ca / "certs" / "root_ca.crt").read_bytes()) == root
    assert not (ca / "secrets" / "root_ca_key").exists()
    openssl("verify", "-CAfile", ca / "certs" / "root_ca.crt", ca / "certs" / "intermediate_ca.crt")


def test_init_reuses_an_rsa_pkcs1_root_and_refuses_a_foreign_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = make_certificate("RSA Root", key, None, key, ca=True)  # type: ignore[arg-type]
    (tmp_path / "root.crt").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    pkcs1 = serialization.PrivateFormat.TraditionalOpenSSL
    (tmp_path / "other.key").write_bytes(other.private_bytes(serialization.Encoding.PEM, pkcs1,
                                                             serialization.NoEncryption()))
    result = CliRunner().invoke(cli, ["init", "--path", str(tmp_path / "ca"), "--name", "T", "--dns", "x",
                                      "--address", ":1", "--provisioner", "p", "--root", str(tmp_path / "root.crt"),
                                      "--key", str(tmp_path / "other.key")], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 1 and "is not the key of" in result.output
    (tmp_path / "root.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs1,
                                                          serialization.NoEncryption()))
    _init(tmp_path, "--root", str(tmp_path / "root.crt"), "--key", str(tmp_path / "root.key"))


def test_init_prompts_for_what_is_missing(tmp_path: Path) -> None:
    answers = "\n".join(["Prompted", "ca.test, 10.0.0.1", "", "ops", PASSWORD, PASSWORD]) + "\n"
    result = CliRunner().invoke(cli, ["init", "--path", str(tmp_path / "ca")], input=answers)
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "ca" / "config" / "ca.json")
    assert config.dns_names == ("ca.test", "10.0.0.1") and config.address == ":8443"
    assert config.authority.provisioners[0]["name"] == "ops"
    assert decrypt_jwk(config.authority.provisioners[0]["encryptedKey"], PASSWORD.encode())


def _ceremony_outputs(tmp_path: Path) -> tuple[Path, Path, str]:
    """A ceremony's root and intermediate certificates, the intermediate key in softkms: their paths and key URI."""
    pki = FakePKI.create()
    root, intermediate, key = tmp_path / "root.crt", tmp_path / "intermediate.crt", tmp_path / "intermediate.key"
    root.write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    intermediate.write_bytes(pki.intermediate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(encrypted_pem(pki.intermediate_key, PASSWORD.encode()))
    return root, intermediate, f"softkms:path={key}"


def _init_fails(tmp_path: Path, *extra: str | Path, exit_code: int = 1) -> str:
    """``appliance init`` that must fail and write nothing; its output."""
    result = _invoke(tmp_path, *extra)
    assert result.exit_code == exit_code, result.output
    assert not (tmp_path / "ca").exists()
    return result.output


def test_init_from_ceremony_outputs_without_the_root_key(tmp_path: Path, openssl: Callable[..., object]) -> None:
    root, intermediate, key_uri = _ceremony_outputs(tmp_path)
    ca, _ = _init(tmp_path, "--root", root, "--intermediate", intermediate, "--intermediate-key-uri", key_uri)
    assert (ca / "certs" / "root_ca.crt").read_bytes() == root.read_bytes()
    assert (ca / "certs" / "intermediate_ca.crt").read_bytes() == intermediate.read_bytes()
    assert not (ca / "secrets").exists()
    data = json.loads((ca / "config" / "ca.json").read_text())
    assert data["key"] == key_uri and "kms" not in data
    openssl("verify", "-CAfile", ca / "certs" / "root_ca.crt", ca / "certs" / "intermediate_ca.crt")


def test_init_from_ceremony_outputs_needs_no_name(tmp_path: Path) -> None:
    root, intermediate, key_uri = _ceremony_outputs(tmp_path)
    result = _invoke(tmp_path, "--root", root, "--intermediate", intermediate, "--intermediate-key-uri", key_uri,
                     name=False)
    assert result.exit_code == 0, result.output
    assert "Name of the new PKI" not in result.output


def test_init_from_ceremony_outputs_refuses_what_does_not_fit(tmp_path: Path) -> None:
    root, intermediate, key_uri = _ceremony_outputs(tmp_path)
    other = FakePKI.create()
    other_root, other_intermediate = tmp_path / "other-root.crt", tmp_path / "other-intermediate.crt"
    other_root.write_bytes(other.root.public_bytes(serialization.Encoding.PEM))
    other_intermediate.write_bytes(other.intermediate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "other.key").write_bytes(encrypted_pem(other.intermediate_key, PASSWORD.encode()))
    leaf = tmp_path / "leaf.crt"
    leaf.write_bytes(other.leaf("www.test").public_bytes(serialization.Encoding.PEM))
    ceremony = ("--root", root, "--intermediate", intermediate, "--intermediate-key-uri")

    output = _init_fails(tmp_path, *ceremony, f"softkms:path={tmp_path / 'other.key'}")
    assert f"the key softkms:path={tmp_path / 'other.key'} is not the key of {intermediate}" in output
    output = _init_fails(tmp_path, "--root", other_root, *ceremony[2:], key_uri)
    assert f"{intermediate} is not signed by {other_root}" in output
    assert f"{leaf} is not a CA certificate" in _init_fails(
        tmp_path, "--root", other_intermediate, "--intermediate", leaf, "--intermediate-key-uri", key_uri)
    output = _init_fails(tmp_path, *ceremony[:3], tmp_path / "missing.crt", exit_code=2)
    assert f"'--intermediate': File '{tmp_path / 'missing.crt'}' does not exist" in output
    assert "no key file at" in _init_fails(tmp_path, *ceremony, f"softkms:path={tmp_path / 'missing.key'}")
    assert "--intermediate needs --root" in _init_fails(tmp_path, *ceremony[2:], key_uri)
    assert "--intermediate needs --root" in _init_fails(tmp_path, *ceremony[:4])
    assert "takes no root key" in _init_fails(tmp_path, *ceremony, key_uri, "--root-key-uri", "softkms:path=/x")


@pytest.mark.hsm
def test_init_from_ceremony_outputs_with_the_key_in_softhsm(tmp_path: Path, softhsm_token: SoftHSMToken) -> None:
    key_uri = "pkcs11:id=0201;object=intermediate-ca-key"
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_certificate("Ceremony Root", root_key, None, root_key, ca=True)
    with open_key_manager(softhsm_token.kms_uri) as manager:
        manager.create_key(key_uri, KeyType.EC_P256)
        manager.create_key("pkcs11:id=0202;object=other-key", KeyType.EC_P256)
        signer = manager.create_signer(key_uri)
        assert isinstance(signer, ec.EllipticCurvePrivateKey)
        intermediate = make_certificate("Ceremony Intermediate", signer, root, root_key, ca=True)
    root_file, intermediate_file = tmp_path / "root.crt", tmp_path / "intermediate.crt"
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    intermediate_file.write_bytes(intermediate.public_bytes(serialization.Encoding.PEM))
    ceremony = ("--kms", softhsm_token.kms_uri, "--root", root_file, "--intermediate", intermediate_file,
                "--intermediate-key-uri")

    output = _init_fails(tmp_path, *ceremony, "pkcs11:object=other-key")
    assert f"the key pkcs11:object=other-key is not the key of {intermediate_file}" in output
    assert "no key with" in _init_fails(tmp_path, *ceremony, "pkcs11:object=no-such-key")
    ca, _ = _init(tmp_path, *ceremony, key_uri)
    data = json.loads((ca / "config" / "ca.json").read_text())
    assert data["key"] == key_uri and data["kms"] == {"type": "pkcs11", "uri": softhsm_token.kms_uri}
    assert not (ca / "secrets").exists()


def _ca_issuers(certificate: x509.Certificate) -> list[str]:
    access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return [d.access_location.value for d in access if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]


def test_init_publishes_revocation_urls(tmp_path: Path, openssl: Callable[..., object]) -> None:
    """--insecure-address and --ocsp reach ca.json; the intermediate names the root's URL on the HTTP listener."""
    ca, _ = _init(tmp_path, "--insecure-address", ":8080", "--ocsp")
    _, intermediate = _check_pki(ca, openssl)
    config = load_config(ca / "config" / "ca.json")
    assert config.insecure_address == ":8080" and config.ocsp.enabled and config.crl.enabled
    assert _ca_issuers(intermediate) == ["http://ca.test:8080/1.0/root.crt"]


def test_init_without_insecure_address_names_the_https_root_url(tmp_path: Path) -> None:
    ca, _ = _init(tmp_path)
    intermediate = x509.load_pem_x509_certificate((ca / "certs" / "intermediate_ca.crt").read_bytes())
    assert _ca_issuers(intermediate) == ["https://ca.test:9443/1.0/root.crt"]
    assert not load_config(ca / "config" / "ca.json").ocsp.enabled


def test_init_signs_an_empty_root_crl_named_by_ca_json(tmp_path: Path, openssl: Callable[..., object]) -> None:
    ca, _ = _init(tmp_path)
    root_file, crl_file = ca / "certs" / "root_ca.crt", ca / "certs" / "root_ca.crl"
    openssl("crl", "-inform", "DER", "-in", crl_file, "-CAfile", root_file, "-noout", "-verify")
    crl = x509.load_der_x509_crl(crl_file.read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1 and len(crl) == 0
    assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert crl.next_update_utc is not None and (crl.next_update_utc - crl.last_update_utc).days == 365
    assert load_config(ca / "config" / "ca.json").crl.root_crl == crl_file
    intermediate = x509.load_pem_x509_certificate((ca / "certs" / "intermediate_ca.crt").read_bytes())
    cdp = intermediate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [point.full_name[0].value for point in cdp] == ["https://ca.test:9443/1.0/root.crl"]


def test_init_with_ml_dsa_87_keys(tmp_path: Path) -> None:
    """``--kty ML-DSA-87``: both CA keys ML-DSA-87 in softkms; the signatures checked by dilithium-py
    (OpenSSL 3.0 cannot: the rest of the CA's ML-DSA path is in tests/api/test_mldsa.py)."""
    from cryptography.hazmat.primitives.asymmetric import mldsa
    from dilithium_py.ml_dsa import ML_DSA_87

    ca, _ = _init(tmp_path, "--kty", "ML-DSA-87")
    root = x509.load_pem_x509_certificate((ca / "certs" / "root_ca.crt").read_bytes())
    intermediate = x509.load_pem_x509_certificate((ca / "certs" / "intermediate_ca.crt").read_bytes())
    assert isinstance(intermediate.public_key(), mldsa.MLDSA87PublicKey)
    raw = root.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ML_DSA_87.verify(raw, intermediate.tbs_certificate_bytes, intermediate.signature)
    assert _basic_constraints(intermediate).path_length == 0
    with open_key_manager("softkms:", password=PASSWORD.encode()) as manager:
        assert manager.get_public_key(str(ca / "secrets" / "intermediate_ca_key")) == intermediate.public_key()


def test_init_with_rsa_keys(tmp_path: Path, openssl: Callable[..., object]) -> None:
    ca, _ = _init(tmp_path, "--kty", "RSA", "--size", "2048")
    intermediate = x509.load_pem_x509_certificate((ca / "certs" / "intermediate_ca.crt").read_bytes())
    assert isinstance(intermediate.public_key(), rsa.RSAPublicKey) and intermediate.public_key().key_size == 2048
    openssl("verify", "-CAfile", ca / "certs" / "root_ca.crt", ca / "certs" / "intermediate_ca.crt")


@pytest.mark.hsm
def test_init_refuses_key_types_it_cannot_make(tmp_path: Path, softhsm_token: SoftHSMToken) -> None:
    """A parameter set that does not exist, a key type for a ceremony's existing key, and
    ML-DSA in SoftHSM2 (no such mechanism there): refused, no configuration written (init's
    directories may stay, as for any key the KMS refuses: a second init is not blocked)."""
    assert "unsupported ML-DSA parameter set 'ML-DSA-99'" in _init_fails(
        tmp_path, "--kty", "ML-DSA", "--crv", "ML-DSA-99")
    root, intermediate, key_uri = _ceremony_outputs(tmp_path)
    assert "a key ceremony's (--intermediate) exist already" in _init_fails(
        tmp_path, "--kty", "ML-DSA", "--root", root, "--intermediate", intermediate, "--intermediate-key-uri", key_uri)
    result = _invoke(tmp_path, "--kty", "ML-DSA", "--kms", softhsm_token.kms_uri, "--root-key-uri",
                     "pkcs11:object=pq-root", "--intermediate-key-uri", "pkcs11:object=pq-int")
    assert result.exit_code == 1 and "ML-DSA-65 keys are not supported" in result.output
    assert not (tmp_path / "ca" / "config" / "ca.json").exists()
