"""awskms against a real ``moto_server`` (patched to sign DIGEST messages as AWS does;
see tests/kms/fakes/moto_kms.py), reached by boto3 through the ``endpoint`` option."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from appliance.errors import ErrorKind
from appliance.kms import KeyType, open_key_manager
from appliance.kms.awskms import AWSKMS, AwsKey, aws_errors
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    SignatureCheckFailed,
    UnsupportedKeyOperation,
)
from appliance.kms.signer import RsaPadding
from tests.conftest import APPLIANCE, run_openssl
from tests.kms.artefacts import self_signed_ca, verify_artefacts
from tests.kms.fakes.moto_kms import free_port, moto_server



@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def kms_uri(endpoint: str) -> str:
    return f"awskms:region=us-east-1;endpoint={endpoint}"


@pytest.fixture
def manager(kms_uri: str) -> Iterator[AWSKMS]:
    with open_key_manager(kms_uri) as opened:
        assert isinstance(opened, AWSKMS)
        yield opened


def _alias(request: pytest.FixtureRequest) -> str:
    return "alias/t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]


@pytest.mark.parametrize("key_type", [KeyType.RSA_3072, KeyType.RSA_4096], ids=lambda t: t.name)
def test_create_with_an_alias_and_large_rsa_specs(
    key_type: KeyType, manager: AWSKMS, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """(The other key specs, sign/verify and artefacts: tests/kms/test_contract.py.)"""
    alias = _alias(request)
    created = manager.create_key(f"awskms:alias={alias}", key_type)
    assert created.uri.startswith("awskms:key-id=") and created.uri.endswith(";region=us-east-1")
    assert KeyType.of(created.public_key) is key_type
    assert manager.get_public_key(created.uri) == created.public_key
    assert manager.get_public_key(f"awskms:key-id={alias}") == created.public_key
    verify_artefacts(manager.create_signer(created.uri), tmp_path)


def test_pss_certificate_verifies_with_openssl(manager: AWSKMS, tmp_path: Path) -> None:
    signer = manager.create_signer(manager.create_key("awskms:", KeyType.RSA_2048).uri)
    ca = self_signed_ca(signer, pss=True)
    assert isinstance(ca.signature_algorithm_parameters, padding.PSS)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    run_openssl("verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "ca.pem")
    text = run_openssl("x509", "-in", tmp_path / "ca.pem", "-noout", "-text").stdout
    assert "rsassaPss" in text and "Salt Length: 0x20" in text


def test_refuses_mismatched_digest_and_algorithms(manager: AWSKMS) -> None:
    created = manager.create_key("awskms:", KeyType.EC_P384)
    signer = manager.create_signer(created.uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    with pytest.raises(UnsupportedKeyOperation, match="signs only SHA-384"):
        signer.sign(b"data", ec.ECDSA(hashes.SHA256()))
    rsa_key = manager.create_key("awskms:", KeyType.RSA_2048)
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=manager.uri.get("endpoint"))
    only_pkcs1 = AwsKey(client, rsa_key.uri, rsa_key.public_key, frozenset({"RSASSA_PKCS1_V1_5_SHA_256"}),
                        lambda: client)
    with pytest.raises(UnsupportedKeyOperation, match="does not allow RSASSA_PSS_SHA_256"):
        only_pkcs1.sign_digest(bytes(32), hashes.SHA256(), RsaPadding.PSS)


def test_refuses_keys_that_cannot_sign(manager: AWSKMS, endpoint: str) -> None:
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint)
    encrypting = client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(UnsupportedKeyOperation, match="KeyUsage SIGN_VERIFY"):
        manager.create_signer(f"awskms:key-id={encrypting}")
    with pytest.raises(UnsupportedKeyOperation, match="cannot create ED25519"):
        manager.create_key("awskms:", KeyType.ED25519)


def test_create_refuses_an_existing_alias_and_a_given_key_id(manager: AWSKMS, request: pytest.FixtureRequest) -> None:
    alias = _alias(request)
    first = manager.create_key(f"awskms:name={alias.removeprefix('alias/')}", KeyType.EC_P256)
    with pytest.raises(KmsError, match="already names key") as excinfo:
        manager.create_key(f"awskms:key-id={alias}", KeyType.EC_P256)
    assert excinfo.value.kind is ErrorKind.CONFLICT
    assert manager.get_public_key(f"awskms:key-id={alias}") == first.public_key
    with pytest.raises(InvalidKmsUri, match="AWS assigns the key-id"):
        manager.create_key("awskms:key-id=1234abcd-12ab-34cd-56ef-1234567890ab", KeyType.EC_P256)


def test_delete_schedules_deletion_with_the_minimum_window(manager: AWSKMS, endpoint: str, request: pytest.FixtureRequest) -> None:
    alias = _alias(request)
    created = manager.create_key(f"awskms:alias={alias}", KeyType.EC_P256)
    manager.delete_key(f"awskms:key-id={alias}")
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint)
    key_id = created.uri.split(";")[0].removeprefix("awskms:key-id=")
    metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"
    assert (metadata["DeletionDate"] - metadata["CreationDate"]).days in (6, 7)


def test_profile_and_credentials_file(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text("[ca]\naws_access_key_id = AKIDCA\naws_secret_access_key = secret\n")
    base = f"awskms:region=us-east-1;endpoint={endpoint};credentials-file={credentials}"
    with open_key_manager(f"{base};profile=ca") as manager:
        created = manager.create_key("awskms:", KeyType.EC_P256)
        assert manager.get_public_key(created.uri) == created.public_key
    with open_key_manager(f"{base};profile=absent") as manager, pytest.raises(KmsAuthenticationFailed, match="absent"):
        manager.get_public_key(created.uri)


def test_errors_map_to_domain_errors(aws_env: None) -> None:
    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "no"}}, "Sign")

    for code, expected in [("AccessDeniedException", KmsAuthenticationFailed),
                           ("UnrecognizedClientException", KmsAuthenticationFailed),
                           ("NotFoundException", KeyNotFound),
                           ("KMSInvalidStateException", KmsError)]:
        with pytest.raises(expected, match=rf"^awskms: sign: no \({code}\)$"):
            with aws_errors("sign"):
                raise client_error(code)
    with open_key_manager(f"awskms:region=us-east-1;endpoint=http://127.0.0.1:{free_port()}") as manager:
        with pytest.raises(KmsError, match="Could not connect") as excinfo:
            manager.get_public_key("awskms:key-id=alias/any")
        assert excinfo.value.kind is ErrorKind.UNAVAILABLE
    with open_key_manager("awskms:") as manager, pytest.raises(InvalidKmsUri, match="no region"):
        manager.get_public_key("awskms:key-id=alias/any")


def test_emulator_patch_is_needed_and_works(endpoint: str) -> None:
    """Stock moto hashes a DIGEST message again; the patched server signs it as AWS does."""
    digest = hashlib.sha256(b"message").digest()

    def digest_signature(url: str, key_spec: str, algorithm: str) -> tuple[object, bytes]:
        client = boto3.client("kms", region_name="us-east-1", endpoint_url=url)
        key_id = client.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        public_key = serialization.load_der_public_key(client.get_public_key(KeyId=key_id)["PublicKey"])
        signature = client.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
        return public_key, signature

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    prehashed = utils.Prehashed(hashes.SHA256())
    public_key, signature = digest_signature(endpoint, "ECC_NIST_P256", "ECDSA_SHA_256")
    public_key.verify(signature, digest, ec.ECDSA(prehashed))  # type: ignore[union-attr]
    public_key, signature = digest_signature(endpoint, "RSA_2048", "RSASSA_PSS_SHA_256")
    public_key.verify(signature, digest, pss, prehashed)  # type: ignore[union-attr]

    with moto_server(patched=False) as stock:
        public_key, signature = digest_signature(stock, "ECC_NIST_P256", "ECDSA_SHA_256")
        with pytest.raises(InvalidSignature):
            public_key.verify(signature, digest, ec.ECDSA(prehashed))  # type: ignore[union-attr]
        public_key.verify(signature, hashlib.sha256(digest).digest(), ec.ECDSA(prehashed))  # type: ignore[union-attr]
        with open_key_manager(f"awskms:region=us-east-1;endpoint={stock}") as manager:
            signer = manager.create_signer(manager.create_key("awskms:", KeyType.EC_P256).uri)
            with pytest.raises(SignatureCheckFailed):
                signer.sign(b"message", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(("kty", "alg", "sigopts"), [
    ("EC", "ES256", []),
    ("RSA", "PS256", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]),
])
def test_cli_create_key_sign_verifies_with_openssl(
    kms_uri: str, tmp_path: Path, request: pytest.FixtureRequest, kty: str, alg: str, sigopts: list[str]
) -> None:
    key = f"awskms:key-id={_alias(request)}"
    run = lambda *args: subprocess.run([APPLIANCE, "kms", *args, "--kms", kms_uri], capture_output=True, check=True, env=os.environ).stdout  # noqa: E731
    pem = run("create", key, "--kty", kty, "--size", "2048")
    assert run("key", key) == pem
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "data").write_bytes(b"sign me")
    signature = run("sign", key, "--alg", alg, "--in", str(tmp_path / "data"))
    (tmp_path / "sig").write_bytes(base64.b64decode(signature))
    run_openssl("dgst", "-sha256", "-verify", tmp_path / "pub.pem", *sigopts, "-signature", tmp_path / "sig", tmp_path / "data")


def test_cli_reports_an_unknown_key_in_one_line(kms_uri: str) -> None:
    result = subprocess.run([APPLIANCE, "kms", "key", "awskms:key-id=alias/absent", "--kms", kms_uri], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("error: awskms: get the public key of alias/absent:")
    assert "NotFoundException" in result.stderr and len(result.stderr.strip().splitlines()) == 1



def test_ml_dsa_is_refused_as_the_emulator_has_none(manager: AWSKMS, endpoint: str) -> None:
    """AWS KMS offers ML-DSA keys (KeySpec ML_DSA_44/65/87, SigningAlgorithm ML_DSA_SHAKE_256);
    moto's KMS does not (it refuses the key spec, as asserted here): with nothing to test
    against, awskms refuses ML-DSA instead of claiming support it never exercised. When this
    test fails on the emulator's answer, moto has learnt ML-DSA and awskms can follow."""
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint)
    with pytest.raises(ClientError, match="ML_DSA_65"):
        client.create_key(KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")
    with pytest.raises(UnsupportedKeyOperation, match="cannot create ML_DSA_65"):
        manager.create_key("awskms:", KeyType.ML_DSA_65)
