"""One contract, six backends: what every ``KeyManager`` must do, run over each of them.

softkms on disk; pkcs11 on SoftHSM2; awskms on moto_server; cloudkms and
azurekms on the local servers that speak their wire protocols (gRPC, REST)
to the real client libraries; yubikey on the software PIV card driven by the
real yubikit. Each backend: create a key of every type it supports, read its
public key, sign and verify with every algorithm it offers for that type
(and build certificate, CSR, CRL, OCSP and SSH artefacts that openssl and
ssh-keygen verify); a garbage signature from the device never leaves the
signer; wrong PIN or credentials and a missing key are refused with a clear
domain error. Backend-specific behaviour stays in ``test_<backend>.py``.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Protocol, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.kms import KeyManager, KeyType, SignatureAlgorithm, open_key_manager, parse_uri
from appliance.kms.errors import KeyNotFound, KmsAuthenticationFailed, SignatureCheckFailed
from appliance.kms.signer import DeviceKey, RsaPadding
from appliance.kms.yubikey import YubiKeyKMS
from tests.conftest import init_softhsm_token
from tests.kms.artefacts import verify_artefacts
from tests.kms.fakes.azure_keyvault_server import KeyVaultServer
from tests.kms.fakes.cloudkms_server import FakeCloudKms
from tests.kms.fakes.fault_proxy import FaultProxy
from tests.kms.fakes.piv_card import SoftPivCard

BACKENDS = ["softkms", "pkcs11", "awskms", "cloudkms", "azurekms", "yubikey"]
EC_AND_RSA = (KeyType.EC_P256, KeyType.EC_P384, KeyType.RSA_2048)
ALL_TYPES = (*EC_AND_RSA, KeyType.ED25519)
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
PIN = "123456"
MESSAGE = b"the contract"
_numbers = itertools.count(1)


@dataclass
class Backend:
    """One backend as the contract sees it."""

    name: str
    manager: KeyManager
    key_types: tuple[KeyType, ...]
    new_key: Callable[[], str]  # a key URI that names no key yet
    missing_key: str
    missing_named: str  # what the error for the missing key must show of it
    refuse_credentials: Callable[[], object]  # opens or uses the backend with a wrong PIN or credentials
    secret: str | None = None  # the wrong secret, which no message may show
    rsa_algorithms: tuple[str, ...] = RSA_ALGORITHMS
    device: bool = True  # signs outside this process (softkms does not)
    rsa_ssh: bool = True  # SSH certificates need RSA with SHA-512, which a Cloud KMS RS256 version cannot make
    cleanup: list[Callable[[], object]] = field(default_factory=list)

    def algorithms(self, key_type: KeyType) -> tuple[str, ...]:
        if key_type.kty == "RSA":
            return self.rsa_algorithms
        return {KeyType.EC_P256: ("ES256",), KeyType.EC_P384: ("ES384",)}.get(key_type, ("EdDSA",))


def _softkms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    manager = open_key_manager("softkms:", password=b"pw")
    created = manager.create_key(f"softkms:path={tmp}/locked.pem", KeyType.EC_P256)
    return Backend(
        "softkms", manager, ALL_TYPES, lambda: f"softkms:path={tmp}/k{next(_numbers)}.pem",
        f"softkms:path={tmp}/absent.pem", "absent.pem",
        lambda: open_key_manager("softkms:", password=b"wrong-pass").create_signer(created.uri),
        secret="wrong-pass", device=False,
    )


def _pkcs11(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    token = init_softhsm_token(f"contract-{os.getpid()}")
    manager = open_key_manager(token.kms_uri)
    wrong = token.kms_uri.replace(f"pin-value={token.pin}", "pin-value=98765")
    return Backend("pkcs11", manager, ALL_TYPES, lambda: f"pkcs11:object=contract-{next(_numbers)}",
                   "pkcs11:object=absent", "object=absent", lambda: open_key_manager(wrong), secret="98765")


def _awskms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    endpoint = request.getfixturevalue("moto_endpoint")
    manager = open_key_manager(f"awskms:region=us-east-1;endpoint={endpoint}")
    refusing = FaultProxy(endpoint).__enter__()  # AWS's answer to an unknown access key id

    def refuse() -> object:
        refusing.fail(400, "UnrecognizedClientException")
        with open_key_manager(f"awskms:region=us-east-1;endpoint={refusing.url}") as other:
            return other.get_public_key(manager.create_key("awskms:", KeyType.EC_P256).uri)

    backend = Backend("awskms", manager, EC_AND_RSA, lambda: "awskms:",
                      "awskms:key-id=1234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab", refuse)
    backend.cleanup.append(lambda: refusing.__exit__(None, None, None))
    return backend


def _cloudkms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    fake: FakeCloudKms = request.getfixturevalue("cloudkms_fake")
    manager = open_key_manager(f"cloudkms:endpoint=127.0.0.1:{fake.port};insecure=true")
    ring = "projects/p/locations/europe-west1/keyRings/contract"
    denied = "cloudkms:projects/unauthenticated/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
    return Backend(
        "cloudkms", manager, ALL_TYPES,
        lambda: f"cloudkms:{ring}/cryptoKeys/k{next(_numbers)};protection-level=SOFTWARE",
        f"cloudkms:{ring}/cryptoKeys/absent/cryptoKeyVersions/1", "cryptoKeys/absent/cryptoKeyVersions/1",
        lambda: manager.get_public_key(denied), rsa_algorithms=("RS256",),  # a version fixes hash and padding
        rsa_ssh=False,
    )


def _azurekms(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    vault: KeyVaultServer = request.getfixturevalue("keyvault")
    manager = open_key_manager(f"azurekms:vault-url={vault.url}")

    def refuse() -> object:
        with pytest.MonkeyPatch.context() as mp:  # the managed identity endpoint refuses the wrong secret
            mp.setenv("IDENTITY_HEADER", "wrong-identity-secret")
            with open_key_manager(f"azurekms:vault-url={vault.url}") as other:
                return other.get_public_key("azurekms:name=any")

    return Backend("azurekms", manager, EC_AND_RSA, lambda: f"azurekms:name=c{next(_numbers)}",
                   "azurekms:name=absent", "absent", refuse, secret="wrong-identity-secret")


def _yubikey(tmp: Path, request: pytest.FixtureRequest) -> Backend:
    card = SoftPivCard(pin=PIN)
    base = f"yubikey:?pin-value={PIN}&management-key={card.management_key.hex()}"
    manager = YubiKeyKMS(parse_uri(base), readers=lambda: [card.connect])
    slots = iter([0x9A, 0x9C, 0x9D, 0x9E, *range(0x83, 0x95)])  # 82 holds the PIN-test key, 95 stays empty
    manager.create_key("yubikey:slot-id=82", KeyType.EC_P256)

    def refuse() -> object:
        wrong = YubiKeyKMS(parse_uri("yubikey:?pin-value=654321"), readers=lambda: [card.connect])
        return wrong.create_signer("yubikey:slot-id=82")

    return Backend("yubikey", manager, ALL_TYPES, lambda: f"yubikey:slot-id={next(slots):02x}",
                   "yubikey:slot-id=95", "slot 95", refuse, secret="654321")


_FACTORIES: dict[str, Callable[[Path, pytest.FixtureRequest], Backend]] = {
    "softkms": _softkms, "pkcs11": _pkcs11, "awskms": _awskms, "cloudkms": _cloudkms, "azurekms": _azurekms,
    "yubikey": _yubikey,
}


class Made(Protocol):
    """What a backend factory makes: an open manager and what to undo after it is closed."""

    manager: KeyManager
    cleanup: list[Callable[[], object]]


M = TypeVar("M", bound=Made)


def made_backend(factories: Mapping[str, Callable[[Path, pytest.FixtureRequest], M]], request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[M]:
    """The backend ``request.param`` names, made by its factory; closed and cleaned up after."""
    made = factories[request.param](tmp_path_factory.mktemp(request.param), request)
    yield made
    made.manager.close()
    for step in made.cleanup:
        step()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    yield from made_backend(_FACTORIES, request, tmp_path_factory)



@pytest.mark.parametrize("key_type", ALL_TYPES, ids=lambda t: t.name)
def test_create_public_key_sign_and_verify(backend: Backend, key_type: KeyType, tmp_path: Path) -> None:
    if key_type not in backend.key_types:
        pytest.skip(f"{backend.name} has no {key_type.name} keys")
    created = backend.manager.create_key(backend.new_key(), key_type)
    assert KeyType.of(created.public_key) is key_type
    if backend.secret is not None:
        assert backend.secret not in created.uri
    assert backend.manager.get_public_key(created.uri) == created.public_key
    signer = backend.manager.create_signer(created.uri)
    assert signer.public_key() == created.public_key
    for name in backend.algorithms(key_type):
        algorithm = SignatureAlgorithm(name)
        algorithm.verify(created.public_key, algorithm.sign(signer, MESSAGE), MESSAGE)
    verify_artefacts(signer, tmp_path, ssh=key_type.kty != "RSA" or backend.rsa_ssh)


class _Garbling:
    """The backend's real device key, with one bit of every answer flipped."""

    def __init__(self, device: DeviceKey) -> None:
        self._device = device

    @staticmethod
    def _flip(signature: bytes) -> bytes:
        return signature[:-1] + bytes([signature[-1] ^ 1])

    def sign_digest(self, digest: bytes, algorithm: object, rsa_padding: RsaPadding | None) -> bytes:
        return self._flip(self._device.sign_digest(digest, algorithm, rsa_padding))  # type: ignore[arg-type]

    def sign_message(self, message: bytes) -> bytes:
        return self._flip(self._device.sign_message(message))


def test_a_garbage_signature_from_the_device_is_refused(backend: Backend) -> None:
    if not backend.device:
        pytest.skip("softkms signs in this process: there is no device answer to distrust")
    signer: PrivateKeyTypes = backend.manager.create_signer(
        backend.manager.create_key(backend.new_key(), KeyType.EC_P256).uri)
    signer._device = _Garbling(signer.device)  # type: ignore[union-attr]
    with pytest.raises(SignatureCheckFailed, match="does not verify"):
        SignatureAlgorithm("ES256").sign(signer, MESSAGE)


def test_wrong_pin_or_credentials_are_refused_clearly(backend: Backend) -> None:
    with pytest.raises(KmsAuthenticationFailed) as caught:
        backend.refuse_credentials()
    assert caught.value.message
    if backend.secret is not None:
        assert backend.secret not in str(caught.value)


def test_a_missing_key_is_refused(backend: Backend) -> None:
    for attempt in (backend.manager.get_public_key, backend.manager.create_signer):
        with pytest.raises(KeyNotFound) as caught:
            attempt(backend.missing_key)
        assert backend.missing_named in caught.value.message  # the error names the key
