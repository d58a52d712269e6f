from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from click.testing import CliRunner
from cryptography.exceptions import InvalidSignature
from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87

from appliance.cli.main import cli
from appliance.kms import KeyType, SignatureAlgorithm, open_key_manager
from appliance.kms.errors import KmsAuthenticationFailed, MissingDependency, UnsupportedKeyOperation
from appliance.kms.registry import BACKENDS, backend_class
from tests.conftest import APPLIANCE



def test_keys_are_written_aes_encrypted_and_private(tmp_path: Path) -> None:
    manager = open_key_manager("softkms:", password=b"pw")
    manager.create_key(str(tmp_path / "k.pem"), KeyType.EC_P256)
    pem = (tmp_path / "k.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(tmp_path / "k.pem")], capture_output=True, text=True, check=True)
    assert "aes-256-cbc" in parsed.stdout
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0


def test_refuses_to_overwrite_and_to_write_unencrypted(tmp_path: Path) -> None:
    manager = open_key_manager("softkms:", password=b"pw")
    manager.create_key(str(tmp_path / "k.pem"), KeyType.EC_P256)
    before = (tmp_path / "k.pem").read_bytes()
    with pytest.raises(UnsupportedKeyOperation, match="refusing to overwrite"):
        manager.create_key(str(tmp_path / "k.pem"), KeyType.EC_P256)
    assert (tmp_path / "k.pem").read_bytes() == before
    with pytest.raises(UnsupportedKeyOperation, match="password is required"):
        open_key_manager("softkms:").create_key(str(tmp_path / "other.pem"), KeyType.EC_P256)


def test_no_password_is_clear(tmp_path: Path) -> None:
    """(A wrong password and a missing key: tests/kms/test_contract.py.)"""
    open_key_manager("softkms:", password=b"pw").create_key(str(tmp_path / "k.pem"), KeyType.EC_P256)
    with pytest.raises(KmsAuthenticationFailed, match="password is required"):
        open_key_manager("softkms:").create_signer(str(tmp_path / "k.pem"))


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 -> ImportError(name="boto3")
    monkeypatch.delitem(sys.modules, BACKENDS["awskms"].module, raising=False)
    with pytest.raises(MissingDependency, match=r"pip install 'appliance\[aws\]'"):
        backend_class("awskms")


def test_cli_create_key_sign_matches_openssl(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("pw\n")
    key = f"softkms:path={tmp_path}/k.pem"
    pem = subprocess.run([APPLIANCE, "kms", "create", key, "--password-file", str(password)], capture_output=True, check=True).stdout
    assert subprocess.run([APPLIANCE, "kms", "key", key, "--password-file", str(password)], capture_output=True, check=True).stdout == pem
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "data").write_bytes(b"sign me")
    out = subprocess.run([APPLIANCE, "kms", "sign", key, "--password-file", str(password), "--in", str(tmp_path / "data")], capture_output=True, check=True).stdout
    (tmp_path / "sig.der").write_bytes(base64.b64decode(out))
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig.der"), str(tmp_path / "data")], check=True, capture_output=True)
    serialization.load_pem_public_key(pem)


def test_cli_reports_errors_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([APPLIANCE, "kms", "key", "pkcs11:token=a;token=b"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: invalid KMS URI: attribute 'token' given twice in the path"


def test_rsa_keys_decrypt_pkcs1v15_and_oaep_as_openssl_encrypts(tmp_path: Path) -> None:
    """The Decrypter capability (SCEP): ciphertexts made by ``openssl pkeyutl`` open."""
    from cryptography.hazmat.primitives.asymmetric import padding

    from appliance.kms import Decrypter

    manager = open_key_manager("softkms:", password=b"pw")
    created = manager.create_key(str(tmp_path / "rsa.pem"), KeyType.RSA_2048)
    assert isinstance(manager, Decrypter)
    decrypter = manager.create_decrypter(str(tmp_path / "rsa.pem"))
    (tmp_path / "pub.pem").write_bytes(created.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "plain").write_bytes(b"content key 0123")
    for options, pad in (((), padding.PKCS1v15()),
                         (("-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                           "-pkeyopt", "rsa_mgf1_md:sha256"),
                          padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))):
        subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "pub.pem"), *options,
                        "-in", str(tmp_path / "plain"), "-out", str(tmp_path / "ct")], check=True)
        assert decrypter.decrypt((tmp_path / "ct").read_bytes(), pad) == b"content key 0123"
    manager.create_key(str(tmp_path / "ec.pem"), KeyType.EC_P256)
    with pytest.raises(UnsupportedKeyOperation, match="only RSA keys decrypt"):
        manager.create_decrypter(str(tmp_path / "ec.pem"))


_DILITHIUM = {KeyType.ML_DSA_44: ML_DSA_44, KeyType.ML_DSA_65: ML_DSA_65, KeyType.ML_DSA_87: ML_DSA_87}


@pytest.mark.parametrize("key_type", list(_DILITHIUM), ids=lambda t: t.name)
def test_ml_dsa_keys_are_encrypted_and_sign_as_fips_204(tmp_path: Path, key_type: KeyType) -> None:
    """softkms ML-DSA keys: PKCS#8, AES-encrypted; signatures (pure ML-DSA, empty context)
    verified by dilithium-py, an independent FIPS 204 implementation."""
    manager = open_key_manager("softkms:", password=b"pw")
    created = manager.create_key(str(tmp_path / "pq.pem"), key_type)
    assert (tmp_path / "pq.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    signer = manager.create_signer(str(tmp_path / "pq.pem"))
    assert KeyType.of(signer) is KeyType.of(created.public_key) is key_type
    assert manager.get_public_key(str(tmp_path / "pq.pem")) == created.public_key
    algorithm = SignatureAlgorithm.default_for(signer)
    assert algorithm.name == key_type.curve and algorithm.hash is None
    signature = algorithm.sign(signer, b"sign me")
    raw = created.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert _DILITHIUM[key_type].verify(raw, b"sign me", signature)
    assert not _DILITHIUM[key_type].verify(raw, b"sign me!", signature)
    with pytest.raises(InvalidSignature):
        algorithm.verify(created.public_key, signature, b"sign me!")


@pytest.mark.parametrize("spelling, expected", [
    (("ML-DSA",), KeyType.ML_DSA_65), (("ml-dsa-44",), KeyType.ML_DSA_44), (("ML-DSA", "ML-DSA-87"), KeyType.ML_DSA_87),
    (("ML-DSA", None, 44), KeyType.ML_DSA_44), (("ML-DSA-87", "ml-dsa-87"), KeyType.ML_DSA_87),
])
def test_ml_dsa_spellings(spelling: tuple[str, ...], expected: KeyType) -> None:
    assert KeyType.parse(*spelling) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize("spelling", [("ML-DSA-99",), ("ML-DSA-44", "ML-DSA-65"), ("ML-DSA", None, 2048)])
def test_ml_dsa_bad_spellings_are_refused(spelling: tuple[str, ...]) -> None:
    with pytest.raises(UnsupportedKeyOperation, match="use ML-DSA-44, ML-DSA-65 or ML-DSA-87"):
        KeyType.parse(*spelling)  # type: ignore[arg-type]


def test_ml_dsa_algorithms_fit_only_their_parameter_set(tmp_path: Path) -> None:
    signer = open_key_manager("softkms:", password=b"pw").create_key(str(tmp_path / "k"), KeyType.ML_DSA_44)
    with pytest.raises(UnsupportedKeyOperation, match="ML-DSA-65 does not fit a ML-DSA-44 key"):
        SignatureAlgorithm.parse("ML-DSA-65").check_key(signer.public_key)
    with pytest.raises(UnsupportedKeyOperation, match="ES256 does not fit a ML-DSA key"):
        SignatureAlgorithm.parse("ES256").check_key(signer.public_key)


def test_cli_creates_and_signs_with_ml_dsa(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "data").write_bytes(b"sign me")
    key = f"softkms:path={tmp_path}/pq.pem"
    runner = CliRunner()
    created = runner.invoke(cli, ["kms", "create", key, "--kty", "ML-DSA-87", "--password-file", str(tmp_path / "pw")])
    assert created.exit_code == 0, created.output
    public = serialization.load_pem_public_key(created.output.encode())
    signed = runner.invoke(cli, ["kms", "sign", key, "--in", str(tmp_path / "data"),
                                 "--password-file", str(tmp_path / "pw")])
    assert signed.exit_code == 0, signed.output
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ML_DSA_87.verify(raw, b"sign me", base64.b64decode(signed.output))
