"""One contract, six backends, for the ``Decrypter`` capability (SCEP's decrypter key).

Each backend's RSA decryption key is made as its operator would make it (a
softkms key, ``pkcs11-tool --usage-decrypt`` on SoftHSM2, an ``ENCRYPT_DECRYPT``
key in moto_server through boto3, an ``ASYMMETRIC_DECRYPT`` key through the real
google-cloud-kms client on the gRPC test double, a Key Vault key whose
``key_ops`` allow ``decrypt`` on the REST test double, slot 9d of the software
PIV card driven by the real yubikit). ``openssl pkeyutl`` encrypts to its public
key with every padding the backend offers and the backend decrypts it; the
paddings the service has not (AWS and Cloud KMS have no PKCS#1 v1.5 decryption)
are refused before any call, and the backend names what it offers without a call; a ciphertext that does not open is a ``ValueError``,
as ``cryptography`` raises it; a key that may not decrypt is refused; every
decryption on a device is counted in the KMS metrics; a device or service fault
heals with one retry, and one that persists is ``KmsUnavailable`` (the API's 503).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import boto3
import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport
from google.auth.credentials import AnonymousCredentials
from prometheus_client import REGISTRY

from appliance.kms import Decrypter, DecryptionPadding, KeyManager, KeyType, open_key_manager, parse_uri
from appliance.kms.errors import UnsupportedKeyOperation
from appliance.kms.faults import KmsUnavailable
from appliance.kms.yubikey import YubiKeyKMS
from tests.conftest import SOFTHSM_MODULE, init_softhsm_token
from tests.kms.test_contract import made_backend
from tests.kms.fakes.azure_keyvault_server import KeyVaultServer, VaultError
from tests.kms.fakes.cloudkms_server import FakeCloudKms
from tests.kms.fakes.fault_proxy import FaultProxy
from tests.kms.fakes.piv_card import SoftPivCard

PKCS1V15 = padding.PKCS1v15()
OAEP_SHA1 = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
OAEP_SHA256 = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
ALL_PADDINGS = (PKCS1V15, OAEP_SHA1, OAEP_SHA256)
OPENSSL_OPTIONS: dict[str, tuple[str, ...]] = {
    "pkcs1v15": (),
    "oaep-sha1": ("-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt", "rsa_mgf1_md:sha1"),
    "oaep-sha256": ("-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                    "-pkeyopt", "rsa_mgf1_md:sha256"),
}
PLAINTEXT = b"a 256-bit AES content key ......"
PIN = "123456"


def _name(pad: padding.AsymmetricPadding) -> str:
    return "pkcs1v15" if isinstance(pad, padding.PKCS1v15) else f"oaep-{pad.algorithm.name}"  # type: ignore[attr-defined]


@dataclass
class Backend:
    """One backend as the decrypter contract sees it."""

    name: str
    manager: KeyManager
    decrypter: str  # the URI of an RSA key that may decrypt
    not_decrypting: str  # the URI of a key that may not (signing only, or EC)
    paddings: tuple[padding.AsymmetricPadding, ...]  # what the service decrypts
    refused: tuple[padding.AsymmetricPadding, ...] = ()  # what it has not: refused before any call
    device: bool = True  # decrypts outside this process (softkms does not)
    requests: Callable[[], int] = lambda: 0  # requests the service has received so far
    # outage(1): the next call fails (a retry heals it); outage(2): calls fail until outage(0)
    outage: Callable[[int], object] | None = None
    cleanup: list[Callable[[], object]] = field(default_factory=list)


def _softkms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    manager = open_key_manager("softkms:", password=b"pw")
    manager.create_key(f"softkms:path={tmp}/rsa.pem", KeyType.RSA_2048)
    manager.create_key(f"softkms:path={tmp}/ec.pem", KeyType.EC_P256)
    return Backend("softkms", manager, f"softkms:path={tmp}/rsa.pem", f"softkms:path={tmp}/ec.pem", ALL_PADDINGS,
                   device=False)


def _pkcs11(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    token = init_softhsm_token(f"decrypters-{os.getpid()}")
    subprocess.run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", token.label, "--login", "--pin",
                    token.pin, "--keypairgen", "--key-type", "rsa:2048", "--usage-decrypt", "--id", "d1",
                    "--label", "decrypter"], check=True, capture_output=True)
    manager = open_key_manager(token.kms_uri)
    manager.create_key("pkcs11:object=signing-only", KeyType.RSA_2048)
    # SoftHSM2 2.6 takes OAEP with SHA-1 only (tests/kms/test_pkcs11.py); SHA-256 is the token's refusal.
    return Backend("pkcs11", manager, "pkcs11:object=decrypter", "pkcs11:object=signing-only",
                   (PKCS1V15, OAEP_SHA1))


def _awskms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    endpoint = request.getfixturevalue("moto_endpoint")
    proxy = FaultProxy(endpoint).__enter__()
    manager = open_key_manager(f"awskms:region=us-east-1;endpoint={proxy.url}")
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint)  # as aws kms create-key does
    key_id = client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    client.close()
    signing = manager.create_key("awskms:", KeyType.RSA_2048).uri
    backend = Backend("awskms", manager, f"awskms:key-id={key_id}", signing, (OAEP_SHA1, OAEP_SHA256), (PKCS1V15,),
                      outage=lambda count: proxy.fail(400, "KMSInternalException", count),
                      requests=lambda: len(proxy.credentials))
    backend.cleanup.append(lambda: proxy.__exit__(None, None, None))
    return backend


def _cloudkms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    fake: FakeCloudKms = request.getfixturevalue("cloudkms_fake")
    endpoint = f"127.0.0.1:{fake.port}"
    manager = open_key_manager(f"cloudkms:endpoint={endpoint};insecure=true")
    ring = "projects/p/locations/europe-west1/keyRings/decrypters"
    client = kms_v1.KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(
        host=endpoint, credentials=AnonymousCredentials(), channel=grpc.insecure_channel(endpoint)))
    Purpose, Algorithm = kms_v1.CryptoKey.CryptoKeyPurpose, kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm
    client.create_crypto_key(request={"parent": ring, "crypto_key_id": "scep", "crypto_key": kms_v1.CryptoKey(
        purpose=Purpose.ASYMMETRIC_DECRYPT,
        version_template=kms_v1.CryptoKeyVersionTemplate(algorithm=Algorithm.RSA_DECRYPT_OAEP_2048_SHA256))})
    client.transport.close()
    signing = manager.create_key(f"cloudkms:{ring}/cryptoKeys/signing;protection-level=SOFTWARE", KeyType.RSA_2048)
    return Backend("cloudkms", manager, f"cloudkms:{ring}/cryptoKeys/scep/cryptoKeyVersions/1", signing.uri,
                   (OAEP_SHA256,), (PKCS1V15, OAEP_SHA1),
                   outage=lambda count: fake.fail("AsymmetricDecrypt", grpc.StatusCode.UNAVAILABLE, count),
                   requests=lambda: len(fake.requests))


def _azurekms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    vault: KeyVaultServer = request.getfixturevalue("keyvault")
    manager = open_key_manager(f"azurekms:vault-url={vault.url}")
    vault.create("scep", {"kty": "RSA-HSM", "key_size": 2048, "key_ops": ["decrypt", "encrypt"]})  # as az keyvault key create
    signing = manager.create_key("azurekms:name=signing", KeyType.RSA_2048)
    return Backend("azurekms", manager, "azurekms:name=scep", signing.uri, ALL_PADDINGS,
                   outage=lambda count: vault.failures.extend([VaultError(503, "ServiceUnavailable", "later")] * count))


def _yubikey(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    card = SoftPivCard(pin=PIN)
    manager = YubiKeyKMS(parse_uri(f"yubikey:?pin-value={PIN}&management-key={card.management_key.hex()}"),
                         readers=lambda: [card.connect])
    manager.create_key("yubikey:slot-id=9d", KeyType.RSA_2048)  # Key Management, PIV's decryption slot
    manager.create_key("yubikey:slot-id=9a", KeyType.EC_P256)

    def outage(count: int) -> None:
        if count == 2:
            card.present = False  # pulled from the reader
        else:
            card.reinsert()  # put back: the old connection is dead, a new one works

    return Backend("yubikey", manager, "yubikey:slot-id=9d", "yubikey:slot-id=9a", ALL_PADDINGS, outage=outage)


_FACTORIES: dict[str, Callable[[Path, pytest.FixtureRequest], Backend]] = {
    "softkms": _softkms, "pkcs11": _pkcs11, "awskms": _awskms, "cloudkms": _cloudkms, "azurekms": _azurekms,
    "yubikey": _yubikey,
}


@pytest.fixture(scope="module", params=list(_FACTORIES))
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    yield from made_backend(_FACTORIES, request, tmp_path_factory)


def _decrypter(backend: Backend) -> rsa.RSAPrivateKey:
    assert isinstance(backend.manager, Decrypter)
    return backend.manager.create_decrypter(backend.decrypter)


def _decryptions(backend: Backend) -> float:
    labels = {"backend": backend.name, "operation": "decrypt", "outcome": "ok"}
    return REGISTRY.get_sample_value("appliance_kms_operations_total", labels) or 0.0


def test_decrypts_what_openssl_encrypts_with_every_padding_it_offers(backend: Backend, tmp_path: Path) -> None:
    decrypter = _decrypter(backend)
    assert decrypter.public_key() == backend.manager.get_public_key(backend.decrypter)
    public = tmp_path / "public.pem"
    public.write_bytes(decrypter.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "plain").write_bytes(PLAINTEXT)
    before = _decryptions(backend)
    for pad in backend.paddings:
        subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(public), *OPENSSL_OPTIONS[_name(pad)],
                        "-in", str(tmp_path / "plain"), "-out", str(tmp_path / "ct")], check=True)
        assert decrypter.decrypt((tmp_path / "ct").read_bytes(), pad) == PLAINTEXT, _name(pad)
    if backend.device:
        assert _decryptions(backend) == before + len(backend.paddings)


def test_the_backend_names_its_paddings_without_a_call(backend: Backend) -> None:
    """What SCEP asks at start (PKCS#1 v1.5 or not): the paddings the service decrypts, no request sent."""
    assert isinstance(backend.manager, Decrypter)
    sent = backend.requests()
    kinds = {DecryptionPadding.PKCS1V15 if isinstance(pad, padding.PKCS1v15) else DecryptionPadding.OAEP
             for pad in backend.paddings}
    assert backend.manager.decryption_paddings() == kinds
    assert not any(isinstance(pad, padding.PKCS1v15) for pad in backend.refused) or \
        DecryptionPadding.PKCS1V15 not in backend.manager.decryption_paddings()
    assert backend.requests() == sent


def test_paddings_the_service_lacks_are_refused(backend: Backend) -> None:
    if not backend.refused:
        pytest.skip(f"{backend.name}: no padding to refuse")
    decrypter = _decrypter(backend)
    ciphertext = decrypter.public_key().encrypt(PLAINTEXT, backend.paddings[0])
    sent = backend.requests()
    for pad in backend.refused:
        with pytest.raises(UnsupportedKeyOperation, match="PKCS#1 v1.5"):
            decrypter.decrypt(ciphertext, pad)
    assert backend.requests() == sent  # refused before any call


def test_a_ciphertext_that_does_not_open_is_a_value_error(backend: Backend) -> None:
    decrypter = _decrypter(backend)
    oaep = next(pad for pad in backend.paddings if isinstance(pad, padding.OAEP))
    other = rsa.generate_private_key(65537, 2048).public_key().encrypt(PLAINTEXT, oaep)  # for another key
    with pytest.raises(ValueError):
        decrypter.decrypt(other, oaep)
    with pytest.raises(ValueError):
        decrypter.decrypt(b"\x01" * 10, backend.paddings[0])  # not the key's length


def test_a_key_that_may_not_decrypt_is_refused(backend: Backend) -> None:
    assert isinstance(backend.manager, Decrypter)
    with pytest.raises(UnsupportedKeyOperation):
        backend.manager.create_decrypter(backend.not_decrypting)


def test_a_fault_heals_with_one_retry_and_one_that_persists_is_unavailable(backend: Backend) -> None:
    if backend.outage is None:
        pytest.skip(f"{backend.name}: no outage to stage here (pkcs11 faults: tests/kms/test_faults.py)")
    decrypter = _decrypter(backend)
    pad = backend.paddings[-1]
    ciphertext = decrypter.public_key().encrypt(PLAINTEXT, pad)
    backend.outage(1)
    assert decrypter.decrypt(ciphertext, pad) == PLAINTEXT
    backend.outage(2)
    try:
        with pytest.raises(KmsUnavailable):
            decrypter.decrypt(ciphertext, pad)
    finally:
        backend.outage(0)
    assert decrypter.decrypt(ciphertext, pad) == PLAINTEXT
