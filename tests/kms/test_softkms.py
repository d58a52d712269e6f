from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from appliance.kms import KeyType, open_key_manager
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
