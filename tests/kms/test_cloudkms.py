"""cloudkms: against a local gRPC server that speaks Cloud KMS's wire protocol.

No Cloud KMS emulator exists: ``tests/kms/fakes/cloudkms_server.py`` is a test
double serving the real protobuf messages over a real gRPC channel on a
loopback port, and the real ``google-cloud-kms`` client library talks to it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport

from appliance.errors import ErrorKind
from appliance.kms import KeyType, SignatureAlgorithm, open_key_manager
from appliance.kms.cloudkms import CloudKMS, crc32c, load_credentials
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    SignatureCheckFailed,
    UnsupportedKeyOperation,
)
from tests.kms.artefacts import self_signed_ca, verify_artefacts
from tests.kms.fakes.cloudkms_server import FakeCloudKms
from tests.conftest import APPLIANCE

RING = "projects/p/locations/europe-west1/keyRings/ca"
_ids = itertools.count(1)


@pytest.fixture
def fake(cloudkms_fake: FakeCloudKms) -> FakeCloudKms:
    return cloudkms_fake


@pytest.fixture
def kms_uri(fake: FakeCloudKms) -> str:
    return f"cloudkms:endpoint=127.0.0.1:{fake.port};insecure=true"


@pytest.fixture
def manager(kms_uri: str) -> Iterator[CloudKMS]:
    with open_key_manager(kms_uri) as opened:
        assert isinstance(opened, CloudKMS)
        yield opened


def new_key(ring: str = RING) -> str:
    return f"cloudkms:{ring}/cryptoKeys/k{next(_ids)}"


CASES = [  # key type, URI options for create, the signature algorithm, verify_artefacts options
    # (P-256, RS256 and Ed25519 defaults: tests/kms/test_contract.py; here what goes over the wire.)
    pytest.param(KeyType.EC_P384, "", "ES384", {}, id="p384"),
    pytest.param(KeyType.RSA_2048, ";algorithm=PS256", "PS256", {"ssh": False, "pss": True}, id="rsa2048-pss"),
    pytest.param(KeyType.ED25519, "", "EdDSA", {}, id="ed25519"),
]


@pytest.mark.parametrize(("key_type", "options", "alg", "artefacts"), CASES)
def test_create_sign_and_verify(manager: CloudKMS, fake: FakeCloudKms, key_type: KeyType, options: str,
                                alg: str, artefacts: dict[str, bool], tmp_path: Path) -> None:
    key = new_key()
    created = manager.create_key(key + options + ";protection-level=SOFTWARE", key_type)
    assert created.uri == f"{key}/cryptoKeyVersions/1"
    assert KeyType.of(created.public_key) is key_type
    assert manager.get_public_key(created.uri) == created.public_key

    signer = manager.create_signer(created.uri)
    algorithm = SignatureAlgorithm(alg)
    signature = algorithm.sign(signer, b"to be signed")
    algorithm.verify(created.public_key, signature, b"to be signed")
    method, request = fake.requests[-1]
    assert method == "AsymmetricSign" and request.name == created.uri.removeprefix("cloudkms:")
    payload = request.data if alg == "EdDSA" else request.digest.sha384 or request.digest.sha256
    assert (request.data_crc32c if alg == "EdDSA" else request.digest_crc32c) == crc32c(payload)
    verify_artefacts(signer, tmp_path, **artefacts)


def test_pss_key_makes_pss_certificates(manager: CloudKMS) -> None:
    created = manager.create_key(new_key() + ";algorithm=PS256", KeyType.RSA_2048)
    certificate = self_signed_ca(manager.create_signer(created.uri), pss=True)
    assert certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS


def test_create_uses_the_requested_algorithm_and_protection_level(manager: CloudKMS, fake: FakeCloudKms) -> None:
    manager.create_key(new_key(), KeyType.RSA_4096)
    template = fake.requests[-2][1].crypto_key.version_template
    assert (template.algorithm.name, template.protection_level.name) == ("RSA_SIGN_PKCS1_4096_SHA256", "HSM")
    manager.create_key(new_key() + ";algorithm=PS512;protection-level=software", KeyType.RSA_4096)
    template = fake.requests[-2][1].crypto_key.version_template
    assert (template.algorithm.name, template.protection_level.name) == ("RSA_SIGN_PSS_4096_SHA512", "SOFTWARE")
    assert fake.requests[-2][1].crypto_key.purpose.name == "ASYMMETRIC_SIGN"


def test_create_refuses_what_cloud_kms_cannot_make(manager: CloudKMS) -> None:
    with pytest.raises(UnsupportedKeyOperation, match="no PS512 key of type RSA_2048.*RS256"):
        manager.create_key(new_key() + ";algorithm=PS512", KeyType.RSA_2048)
    with pytest.raises(InvalidKmsUri, match="protection-level"):
        manager.create_key(new_key() + ";protection-level=EXTERNAL", KeyType.EC_P256)
    with pytest.raises(InvalidKmsUri, match="crypto key name"):
        manager.create_key(new_key() + "/cryptoKeyVersions/1", KeyType.EC_P256)


def test_create_refuses_to_replace_a_key(manager: CloudKMS) -> None:
    key = new_key()
    manager.create_key(key, KeyType.EC_P256)
    with pytest.raises(KmsError, match="exists: refusing to replace") as caught:
        manager.create_key(key, KeyType.EC_P256)
    assert caught.value.kind is ErrorKind.CONFLICT


def test_create_waits_while_the_version_is_pending_generation(manager: CloudKMS, fake: FakeCloudKms) -> None:
    fake.pending_reads = 2
    try:
        created = manager.create_key(new_key(), KeyType.EC_P256)
    finally:
        fake.pending_reads = 0
    assert [method for method, _ in fake.requests[-3:]] == ["GetPublicKey"] * 3
    assert isinstance(created.public_key, ec.EllipticCurvePublicKey)


def test_name_attribute_is_accepted(manager: CloudKMS) -> None:
    created = manager.create_key(new_key(), KeyType.EC_P256)
    name = created.uri.removeprefix("cloudkms:")
    assert manager.get_public_key(f"cloudkms:name={name}") == created.public_key


def test_ec_key_refuses_another_hash(manager: CloudKMS, fake: FakeCloudKms) -> None:
    signer = manager.create_signer(manager.create_key(new_key(), KeyType.EC_P256).uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    sent = len(fake.requests)
    with pytest.raises(UnsupportedKeyOperation, match="EC_SIGN_P256_SHA256: it makes ES256 signatures, not ES with SHA384"):
        signer.sign(b"x", ec.ECDSA(hashes.SHA384()))
    assert len(fake.requests) == sent  # refused before any request was sent


def test_rsa_key_version_fixes_its_padding(manager: CloudKMS) -> None:
    pss = manager.create_signer(manager.create_key(new_key() + ";algorithm=PS256", KeyType.RSA_2048).uri)
    assert isinstance(pss, rsa.RSAPrivateKey)
    with pytest.raises(UnsupportedKeyOperation, match="RSA_SIGN_PSS_2048_SHA256: it makes PS256 signatures, not RS with SHA256"):
        pss.sign(b"x", padding.PKCS1v15(), hashes.SHA256())
    pkcs1 = manager.create_signer(manager.create_key(new_key(), KeyType.RSA_2048).uri)
    assert isinstance(pkcs1, rsa.RSAPrivateKey)
    with pytest.raises(UnsupportedKeyOperation, match="not PS with SHA256"):
        pkcs1.sign(b"x", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), hashes.SHA256())
    with pytest.raises(UnsupportedKeyOperation, match="not RS with SHA512"):
        pkcs1.sign(b"x", padding.PKCS1v15(), hashes.SHA512())


def test_unsupported_key_version_algorithm_is_refused(manager: CloudKMS, kms_uri: str, fake: FakeCloudKms) -> None:
    endpoint = f"127.0.0.1:{fake.port}"
    transport = KeyManagementServiceGrpcTransport(host=endpoint, channel=grpc.insecure_channel(endpoint))
    client = kms_v1.KeyManagementServiceClient(transport=transport)
    algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.RSA_SIGN_RAW_PKCS1_2048
    client.create_crypto_key(parent=RING, crypto_key_id="raw", crypto_key=kms_v1.CryptoKey(
        purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ASYMMETRIC_SIGN,
        version_template=kms_v1.CryptoKeyVersionTemplate(algorithm=algorithm),
    ))
    client.transport.close()
    with pytest.raises(UnsupportedKeyOperation, match="RSA_SIGN_RAW_PKCS1_2048: not a supported signing algorithm"):
        manager.create_signer(f"cloudkms:{RING}/cryptoKeys/raw/cryptoKeyVersions/1")


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("pem_crc32c", "public_key"),
        ("pem", "public_key"),
        ("name", "public_key"),
        ("signature_crc32c", "sign"),
        ("name", "sign"),
        ("verified_digest_crc32c", "sign"),
    ],
)
def test_corrupted_responses_are_detected(manager: CloudKMS, fake: FakeCloudKms, field: str, call: str) -> None:
    created = manager.create_key(new_key(), KeyType.EC_P256)
    signer = manager.create_signer(created.uri)
    fake.corrupt(field)
    with pytest.raises(KmsError, match="failed its integrity check") as caught:
        if call == "public_key":
            manager.get_public_key(created.uri)
        else:
            signer.sign(b"x", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
    assert caught.value.kind is ErrorKind.UNAVAILABLE


def test_ed25519_unverified_data_is_detected(manager: CloudKMS, fake: FakeCloudKms) -> None:
    signer = manager.create_signer(manager.create_key(new_key(), KeyType.ED25519).uri)
    fake.corrupt("verified_data_crc32c")
    with pytest.raises(KmsError, match="the data sent .* failed its integrity check"):
        signer.sign(b"x")  # type: ignore[call-arg]


def test_wrong_signature_with_matching_crc_is_caught_by_verification(manager: CloudKMS, fake: FakeCloudKms) -> None:
    signer = manager.create_signer(manager.create_key(new_key(), KeyType.RSA_2048).uri)
    fake.corrupt("signature")
    with pytest.raises(SignatureCheckFailed):
        signer.sign(b"x", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("project", "error", "message"),
    [
        ("denied", KmsAuthenticationFailed, "PERMISSION_DENIED: GetPublicKey refused"),
        ("unauthenticated", KmsAuthenticationFailed, "UNAUTHENTICATED"),
        ("exhausted", KmsError, "failed: RESOURCE_EXHAUSTED: GetPublicKey refused"),
    ],
)
def test_grpc_errors_are_mapped(manager: CloudKMS, project: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        manager.get_public_key(f"cloudkms:projects/{project}/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1")
    assert not isinstance(caught.value, KeyNotFound)


def test_bad_key_names_are_invalid(manager: CloudKMS) -> None:
    for bad in ("cloudkms:", f"cloudkms:{RING}/cryptoKeys/k", "cloudkms:projects/p/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"):
        with pytest.raises(InvalidKmsUri, match="crypto key version name"):
            manager.get_public_key(bad)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("cloudkms:insecure=true", "needs an 'endpoint' on a loopback"),
        ("cloudkms:endpoint=kms.example.com:443;insecure=true", "needs an 'endpoint' on a loopback"),
        ("cloudkms:endpoint=127.0.0.1:1;insecure=true;credentials-file=/sa.json", "in the clear"),
        ("cloudkms:endpoint=127.0.0.1:1;insecure=yes", "must be true or false"),
    ],
)
def test_insecure_mode_is_only_for_loopback_without_credentials(uri: str, message: str) -> None:
    with pytest.raises(InvalidKmsUri, match=message):
        open_key_manager(uri).get_public_key(f"cloudkms:{RING}/cryptoKeys/k/cryptoKeyVersions/1")


@pytest.fixture
def service_account_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "1", "private_key": pem.decode(),
        "client_email": "ca@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    return path


def test_credentials_file_is_loaded(service_account_file: Path, tmp_path: Path) -> None:
    credentials = load_credentials(str(service_account_file))
    assert credentials.service_account_email == "ca@p.iam.gserviceaccount.com"  # type: ignore[attr-defined]
    for bad in (tmp_path / "absent.json", tmp_path):
        with pytest.raises(KmsAuthenticationFailed, match=f"service-account key from credentials-file {bad}$"):
            load_credentials(str(bad))
    (tmp_path / "user.json").write_text(json.dumps({"type": "authorized_user", "refresh_token": "secret"}))
    with pytest.raises(KmsAuthenticationFailed, match="service-account key"):
        load_credentials(f"{tmp_path}/user.json")


def test_endpoint_without_insecure_is_tls_with_the_credentials_file(service_account_file: Path) -> None:
    manager = open_key_manager(f"cloudkms:endpoint=kms.example.com:8443;credentials-file={service_account_file}")
    assert isinstance(manager, CloudKMS)
    client = manager._client(manager.uri)  # builds the client; connects on first call only
    assert client.api_endpoint == "kms.example.com:8443"
    assert client.transport._credentials.service_account_email == "ca@p.iam.gserviceaccount.com"  # type: ignore[attr-defined]
    assert manager._client(manager.uri) is client  # one client per connection
    manager.close()


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([APPLIANCE, "kms", *args], capture_output=True, env=env)


def test_cli_create_key_sign_matches_openssl(kms_uri: str, tmp_path: Path) -> None:
    key = new_key()
    created = _run("create", key, "--kms", kms_uri)
    assert created.returncode == 0, created.stderr
    version = f"{key}/cryptoKeyVersions/1"
    assert _run("key", version, "--kms", kms_uri).stdout == created.stdout
    (tmp_path / "pub.pem").write_bytes(created.stdout)
    (tmp_path / "data").write_bytes(b"sign me")
    signed = _run("sign", version, "--kms", kms_uri, "--in", str(tmp_path / "data"))
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "sig.der").write_bytes(base64.b64decode(signed.stdout))
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                    str(tmp_path / "sig.der"), str(tmp_path / "data")], check=True, capture_output=True)


def test_cli_pss_key_signs_with_ps256_only(kms_uri: str, tmp_path: Path) -> None:
    key = new_key()
    pem = _run("create", f"{key};algorithm=PS256", "--kms", kms_uri, "--kty", "RSA", "--size", "2048").stdout
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "data").write_bytes(b"sign me")
    version = f"{key}/cryptoKeyVersions/1"
    refused = _run("sign", version, "--kms", kms_uri, "--in", str(tmp_path / "data"))
    assert refused.returncode == 1
    assert b"it makes PS256 signatures, not RS with SHA256" in refused.stderr
    signed = _run("sign", version, "--kms", kms_uri, "--in", str(tmp_path / "data"), "--alg", "PS256")
    (tmp_path / "sig.der").write_bytes(base64.b64decode(signed.stdout))
    subprocess.run(["openssl", "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                    "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig.der"),
                    str(tmp_path / "data")], check=True, capture_output=True)


def test_cli_without_credentials_says_so(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(NO_GCE_CHECK="true", HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"))
    result = _run("key", f"cloudkms:{RING}/cryptoKeys/k/cryptoKeyVersions/1", env=env)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "error: cloudkms: cannot load Google credentials from Application Default Credentials"
