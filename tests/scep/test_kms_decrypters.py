"""The SCEP decrypter key in a cloud KMS or on a YubiKey (``decrypterKey`` = azurekms:...,
yubikey:...): the openssl client enrols; its pkcsPKIEnvelope (RSA PKCS#1 v1.5 key transport)
is opened by the backend's decrypt, and the CertRep is signed by the same key through it.

Key Vault is the wire-protocol test double in tests/kms/fakes (REST, the real
azure-keyvault-keys client); the YubiKey is the software PIV card, driven by the real
yubikit, in slot 9d (Key Management) and reached through the same reader list a real
card is (``pcsc_readers``). AWS KMS and Cloud KMS decrypt RSA-OAEP only and their
decryption keys do not sign, so SCEP's PKCS#1 v1.5 envelopes cannot be opened with them:
a provisioner whose ``decrypterKey`` names such a key (made in moto_server through boto3,
and in the Cloud KMS gRPC test double through the real google-cloud-kms client) stops the CA
at start, naming it; their decrypters themselves are tested in tests/kms/test_decrypters.py."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable, Iterator

import boto3
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport
from prometheus_client import REGISTRY

from appliance.errors import BadRequest
from appliance.kms import KeyType, open_key_manager, parse_uri
from appliance.kms import yubikey as yubikey_module
from appliance.kms.azurekms import AzureKMS
from appliance.kms.yubikey import YubiKeyKMS
from tests.ca_fixtures import TestCA, build_ca
from tests.kms.conftest import aws_env, cloudkms_fake, keyvault, moto_endpoint  # noqa: F401 - test doubles, fixtures
from tests.kms.fakes.cloudkms_server import FakeCloudKms
from tests.kms.fakes.azure_keyvault_server import KeyVaultServer
from tests.kms.fakes.piv_card import SoftPivCard
from tests.scep.conftest import CHALLENGE, add_provisioners, openssl_verify, pem_b64, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient
from tests.scep.test_openssl_client import post

PIN = "123456"


def _azurekms(request: pytest.FixtureRequest) -> tuple[str, rsa.RSAPublicKey]:
    vault: KeyVaultServer = request.getfixturevalue("keyvault")
    uri = f"azurekms:name=scep-ra;vault-url={vault.url}"
    vault.create("scep-ra", {"kty": "RSA-HSM", "key_size": 2048, "key_ops": ["sign", "verify", "decrypt", "encrypt"]})
    with AzureKMS(parse_uri(uri)) as manager:
        public_key = manager.get_public_key(uri)
    assert isinstance(public_key, rsa.RSAPublicKey)
    return uri, public_key


def _yubikey(request: pytest.FixtureRequest) -> tuple[str, rsa.RSAPublicKey]:
    card = SoftPivCard(pin=PIN)
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(yubikey_module, "pcsc_readers", lambda: [card.connect])  # the card in its reader
    with YubiKeyKMS(parse_uri(f"yubikey:?management-key={card.management_key.hex()}")) as manager:
        public_key = manager.create_key("yubikey:slot-id=9d", KeyType.RSA_2048).public_key
    assert isinstance(public_key, rsa.RSAPublicKey)
    return f"yubikey:slot-id=9d?pin-value={PIN}", public_key


_BACKENDS: dict[str, Callable[[pytest.FixtureRequest], tuple[str, rsa.RSAPublicKey]]] = {
    "azurekms": _azurekms, "yubikey": _yubikey,
}


def _ra_certificate(ca: TestCA, public_key: rsa.RSAPublicKey, backend: str) -> x509.Certificate:
    """The decrypter's (RA) certificate, issued by the intermediate."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(f"CN=SCEP decrypter ({backend})"))
            .issuer_name(ca.intermediate.subject).public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(ca.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]


def _operations(backend: str, operation: str) -> float:
    labels = {"backend": backend, "operation": operation, "outcome": "ok"}
    return REGISTRY.get_sample_value("appliance_kms_operations_total", labels) or 0.0


@pytest.fixture(params=list(_BACKENDS))
def decrypter(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, rsa.RSAPublicKey]]:
    """(backend, decrypterKey, public key) of an RSA key that decrypts and signs."""
    uri, public_key = _BACKENDS[request.param](request)
    yield request.param, uri, public_key


def test_openssl_client_enrols_with_the_decrypter_key_in_a_kms(decrypter: tuple[str, str, rsa.RSAPublicKey],
                                                                tmp_path: Path) -> None:
    backend, key_uri, public_key = decrypter
    ca = build_ca(tmp_path / "ca")  # an EC intermediate: the decrypter is the KMS key or nothing
    certificate = _ra_certificate(ca, public_key, backend)
    add_provisioners(ca, scep_provisioner(decrypterCertificate=pem_b64(certificate), decrypterKey=key_uri))
    env = start_scep(ca)
    try:
        recipient = tmp_path / "decrypter.pem"
        recipient.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        decrypted, signed = _operations(backend, "decrypt"), _operations(backend, "sign")
        client = OpensslClient(tmp_path / "client")
        reply = client.read_reply(post(env, client.request(recipient, CHALLENGE)).content, ca.root_path)
        assert reply["pkiStatus"] == "0"
        openssl_verify(ca, Path(reply["certificate"]))
        assert env.issued() == 1
        assert _operations(backend, "decrypt") == decrypted + 1  # the envelope opened on the backend
        assert _operations(backend, "sign") == signed + 1  # the CertRep signed by the same key there
    finally:
        env.close()


def _awskms_oaep(request: pytest.FixtureRequest) -> tuple[str, Callable[[], int]]:
    """An ENCRYPT_DECRYPT RSA key in moto_server, made as ``aws kms create-key`` makes it."""
    endpoint: str = request.getfixturevalue("moto_endpoint")
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint)
    key_id = client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    client.close()
    return f"awskms:key-id={key_id};region=us-east-1;endpoint={endpoint}", lambda: 0


def _cloudkms_oaep(request: pytest.FixtureRequest) -> tuple[str, Callable[[], int]]:
    """A version of an ASYMMETRIC_DECRYPT key (RSA_DECRYPT_OAEP_2048_SHA256) in the Cloud KMS test double."""
    fake: FakeCloudKms = request.getfixturevalue("cloudkms_fake")
    endpoint = f"127.0.0.1:{fake.port}"
    client = kms_v1.KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(
        host=endpoint, credentials=AnonymousCredentials(), channel=grpc.insecure_channel(endpoint)))
    ring = "projects/p/locations/europe-west1/keyRings/scep-refused"
    Purpose, Algorithm = kms_v1.CryptoKey.CryptoKeyPurpose, kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm
    client.create_crypto_key(request={"parent": ring, "crypto_key_id": "ra", "crypto_key": kms_v1.CryptoKey(
        purpose=Purpose.ASYMMETRIC_DECRYPT,
        version_template=kms_v1.CryptoKeyVersionTemplate(algorithm=Algorithm.RSA_DECRYPT_OAEP_2048_SHA256))})
    client.transport.close()
    return f"cloudkms:{ring}/cryptoKeys/ra/cryptoKeyVersions/1;endpoint={endpoint};insecure=true", \
        lambda: len(fake.requests)


@pytest.mark.parametrize("backend", ["awskms", "cloudkms"])
def test_an_oaep_only_decrypter_stops_the_ca_naming_it(backend: str, request: pytest.FixtureRequest,
                                                       tmp_path: Path) -> None:
    key_uri, requests = {"awskms": _awskms_oaep, "cloudkms": _cloudkms_oaep}[backend](request)
    with open_key_manager(key_uri) as manager:
        public_key = manager.get_public_key(key_uri)
    assert isinstance(public_key, rsa.RSAPublicKey)
    ca = build_ca(tmp_path / "ca")
    certificate = _ra_certificate(ca, public_key, backend)
    add_provisioners(ca, scep_provisioner("devices", decrypterCertificate=pem_b64(certificate), decrypterKey=key_uri))
    sent = requests()
    with pytest.raises(BadRequest) as refused:
        start_scep(ca)
    assert str(refused.value).startswith(f"SCEP provisioner 'devices': decrypterKey: {backend} keys decrypt only "
                                         "RSA-OAEP")
    assert "PKCS#1 v1.5" in str(refused.value)
    assert requests() == sent, str(refused.value)  # known without asking the service
