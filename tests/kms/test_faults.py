"""KMS faults heal: classification by error class, one retry after healing, 503-class error otherwise.

PKCS#11 faults are real ones on SoftHSM2: the session closed under the signer,
the token logged out, the token's files moved away and back.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import exceptions as p11

from appliance.errors import ErrorKind
from appliance.kms import KeyManager, KeyType, open_key_manager, parse_uri
from appliance.kms.errors import KmsError, SignatureCheckFailed
from appliance.kms.faults import Fault, KmsUnavailable, classify, with_one_retry
from appliance.kms.pkcs11 import PKCS11KMS
from appliance.kms.pkcs11_module import load_module
from appliance.kms.yubikey import YubiKeyKMS
from tests.conftest import SOFTHSM_MODULE, SoftHSMToken
from tests.kms.fakes.azure_keyvault_server import KeyVaultServer, VaultError
from tests.kms.fakes.cloudkms_server import FakeCloudKms
from tests.kms.fakes.fault_proxy import FaultProxy
from tests.kms.fakes.piv_card import SoftPivCard
from tests.kms.softhsm_files import token_away

DATA = b"fault tolerant"


def _raised_from(sdk_error: BaseException) -> KmsError:
    """A domain error raised ``from None`` while handling ``sdk_error``, as the backends do."""
    try:
        try:
            raise sdk_error
        except BaseException:
            raise KmsError("translated") from None
    except KmsError as exc:
        return exc


@pytest.mark.parametrize(("error", "fault"), [
    (p11.SessionHandleInvalid(), Fault.SESSION),
    (p11.ObjectHandleInvalid(), Fault.SESSION),
    (p11.UserNotLoggedIn(), Fault.SESSION),
    (p11.TokenNotPresent(), Fault.DEVICE),
    (p11.DeviceRemoved(), Fault.DEVICE),
    (KmsUnavailable("down", fault=Fault.CREDENTIALS), Fault.CREDENTIALS),
    (KmsError("timeout", kind=ErrorKind.UNAVAILABLE), Fault.TRANSIENT),
])
def test_faults_are_classified_through_the_translated_error(error: BaseException, fault: Fault) -> None:
    assert classify(_raised_from(error)) is fault


@pytest.mark.parametrize("error", [p11.PinIncorrect(), p11.MechanismInvalid(), SignatureCheckFailed("bad"),
                                   ValueError("x")])
def test_errors_retrying_cannot_help_are_not_faults(error: BaseException) -> None:
    assert classify(_raised_from(error)) is None


def test_one_retry_after_heal_then_unavailable() -> None:
    calls: list[str] = []

    def failing() -> bytes:
        calls.append("op")
        raise _raised_from(p11.SessionHandleInvalid())

    with pytest.raises(KmsUnavailable) as caught:
        with_one_retry("token 'x'", failing, lambda fault: calls.append(f"heal {fault.value}"))
    assert calls == ["op", "heal session", "op"]
    assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.retry_after > 0
    assert "token 'x' is unavailable" in caught.value.message


def test_a_failed_heal_is_unavailable_and_other_errors_pass_through() -> None:
    def heal(fault: Fault) -> None:
        raise KmsError("no token")

    with pytest.raises(KmsUnavailable, match="no token"):
        with_one_retry("t", lambda: (_ for _ in ()).throw(_raised_from(p11.TokenNotPresent())), heal)
    with pytest.raises(SignatureCheckFailed):
        with_one_retry("t", lambda: (_ for _ in ()).throw(SignatureCheckFailed("garbage")), heal)


# --- SoftHSM2 --------------------------------------------------------------------------


@pytest.fixture
def manager(softhsm_token: SoftHSMToken) -> Iterator[PKCS11KMS]:
    kms = open_key_manager(softhsm_token.kms_uri)
    assert isinstance(kms, PKCS11KMS)
    yield kms
    kms.close()


def _sign(signer: ec.EllipticCurvePrivateKey) -> None:
    signer.public_key().verify(signer.sign(DATA, ec.ECDSA(hashes.SHA256())), DATA, ec.ECDSA(hashes.SHA256()))


def _close_all_sessions(slot_id: int) -> None:
    """C_CloseAllSessions behind the signer's back: the session is gone and the token logged out."""
    module = load_module(SOFTHSM_MODULE)
    with module.lock:
        assert ctypes.CDLL(module.path).C_CloseAllSessions(ctypes.c_ulong(slot_id)) == 0


@pytest.mark.hsm
def test_lost_session_heals_with_one_retry(manager: PKCS11KMS) -> None:
    created = manager.create_key("pkcs11:object=heal", KeyType.EC_P256)
    signer = manager.create_signer(created.uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    _sign(signer)
    token = manager._token(manager.uri)
    before = token.generation
    _close_all_sessions(token.token.slot.slot_id)
    _sign(signer)  # healed inside this call
    assert token.generation == before + 1
    _sign(signer)  # and stays healed
    assert token.generation == before + 1


@pytest.mark.hsm
def test_logged_out_token_logs_in_again(manager: PKCS11KMS) -> None:
    signer = manager.create_signer(manager.create_key("pkcs11:object=logout", KeyType.EC_P256).uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    token = manager._token(manager.uri)
    module = load_module(SOFTHSM_MODULE)
    with module.lock:  # C_Logout behind the signer's back: its next call gets CKR_USER_NOT_LOGGED_IN
        assert ctypes.CDLL(module.path).C_Logout(ctypes.c_ulong(token.session.handle)) == 0
    before = token.generation
    _sign(signer)
    assert token.generation == before + 1


@pytest.mark.hsm
def test_token_moved_away_is_unavailable_and_heals_when_back(manager: PKCS11KMS, softhsm_token: SoftHSMToken,
                                                            tmp_path: Path) -> None:
    created = manager.create_key("pkcs11:object=away", KeyType.EC_P256)
    signer = manager.create_signer(created.uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    _sign(signer)
    with token_away(softhsm_token.label, tmp_path):
        for _ in range(2):  # every request while gone: 503-class, never a crash or a 500
            with pytest.raises(KmsUnavailable) as caught:
                _sign(signer)
            assert caught.value.kind is ErrorKind.UNAVAILABLE
    _sign(signer)


# --- cloud backends and the YubiKey, through their local counterparts -------------------


def _ec_signer(manager: KeyManager, key: str) -> ec.EllipticCurvePrivateKey:
    signer = manager.create_signer(manager.create_key(key, KeyType.EC_P256).uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    return signer


@pytest.fixture
def aws(moto_endpoint: str) -> Iterator[tuple[FaultProxy, ec.EllipticCurvePrivateKey]]:
    with FaultProxy(moto_endpoint) as proxy, open_key_manager(f"awskms:region=us-east-1;endpoint={proxy.url}") as kms:
        yield proxy, _ec_signer(kms, "awskms:")


def test_aws_transient_error_once_heals(aws: tuple[FaultProxy, ec.EllipticCurvePrivateKey]) -> None:
    proxy, signer = aws
    before = len(proxy.credentials)
    proxy.fail(400, "KMSInternalException")  # (AWS sends it with 500, which botocore itself retries with back-off)
    _sign(signer)
    assert len(proxy.credentials) == before + 2  # the fault, then the retry


def test_aws_expired_credentials_are_read_again(aws: tuple[FaultProxy, ec.EllipticCurvePrivateKey],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, signer = aws
    old_client = signer.device.client  # type: ignore[attr-defined]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rotated")
    proxy.fail(400, "ExpiredTokenException")
    _sign(signer)
    assert signer.device.client is not old_client  # type: ignore[attr-defined]
    assert proxy.credentials[-2:] == ["testing", "rotated"]


def test_aws_persistent_errors_are_unavailable(aws: tuple[FaultProxy, ec.EllipticCurvePrivateKey]) -> None:
    proxy, signer = aws
    before = len(proxy.credentials)
    proxy.fail(400, "KMSInternalException", count=2)
    with pytest.raises(KmsUnavailable, match="KMSInternalException") as caught:
        _sign(signer)
    assert caught.value.kind is ErrorKind.UNAVAILABLE and len(proxy.credentials) == before + 2
    _sign(signer)


@pytest.fixture
def cloud(cloudkms_fake: FakeCloudKms) -> Iterator[ec.EllipticCurvePrivateKey]:
    with open_key_manager(f"cloudkms:endpoint=127.0.0.1:{cloudkms_fake.port};insecure=true") as kms:
        yield _ec_signer(kms, f"cloudkms:projects/p/locations/l/keyRings/faults/cryptoKeys/k{os.getpid()}-"
                              f"{len(cloudkms_fake.requests)};protection-level=SOFTWARE")


def _signs(fake: FakeCloudKms) -> int:
    return sum(method == "AsymmetricSign" for method, _ in fake.requests)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.UNAUTHENTICATED])
def test_cloudkms_fault_once_heals_on_a_new_client(cloud: ec.EllipticCurvePrivateKey, cloudkms_fake: FakeCloudKms,
                                                   code: grpc.StatusCode) -> None:
    old_client, before = cloud.device._client, _signs(cloudkms_fake)  # type: ignore[attr-defined]
    cloudkms_fake.fail("AsymmetricSign", code)
    _sign(cloud)
    assert _signs(cloudkms_fake) == before + 2
    assert cloud.device._client is not old_client  # type: ignore[attr-defined]


def test_cloudkms_persistent_fault_is_unavailable(cloud: ec.EllipticCurvePrivateKey, cloudkms_fake: FakeCloudKms) -> None:
    cloudkms_fake.fail("AsymmetricSign", grpc.StatusCode.UNAVAILABLE, count=2)
    with pytest.raises(KmsUnavailable, match="UNAVAILABLE"):
        _sign(cloud)
    _sign(cloud)


@pytest.fixture
def azure(keyvault: KeyVaultServer) -> Iterator[ec.EllipticCurvePrivateKey]:
    with open_key_manager(f"azurekms:vault-url={keyvault.url}") as kms:
        yield _ec_signer(kms, f"azurekms:name=faults-{len(keyvault.requests)}")


def test_azure_transient_error_once_heals(azure: ec.EllipticCurvePrivateKey, keyvault: KeyVaultServer) -> None:
    keyvault.failures.append(VaultError(503, "ServiceUnavailable", "try later"))
    _sign(azure)
    assert not keyvault.failures


def test_azure_persistent_errors_are_unavailable(azure: ec.EllipticCurvePrivateKey, keyvault: KeyVaultServer) -> None:
    keyvault.failures += [VaultError(500, "InternalError", "down")] * 2
    with pytest.raises(KmsUnavailable, match="down"):
        _sign(azure)
    _sign(azure)


def test_azure_refused_token_gets_a_new_credential(azure: ec.EllipticCurvePrivateKey, keyvault: KeyVaultServer) -> None:
    tokens_before = sum(path == "/msi/token" for _, path, _, _ in keyvault.requests)
    keyvault.revoke_tokens()  # as after the token's expiry or a credential rotation
    _sign(azure)
    assert sum(path == "/msi/token" for _, path, _, _ in keyvault.requests) > tokens_before


@pytest.fixture
def piv() -> tuple[SoftPivCard, ec.EllipticCurvePrivateKey]:
    card = SoftPivCard()
    kms = YubiKeyKMS(parse_uri(f"yubikey:?pin-value=123456&management-key={card.management_key.hex()}"),
                     readers=lambda: [card.connect])
    return card, _ec_signer(kms, "yubikey:slot-id=9c")


def test_yubikey_reset_connection_is_reopened(piv: tuple[SoftPivCard, ec.EllipticCurvePrivateKey]) -> None:
    card, signer = piv
    connections = card.connections
    card.reinsert()  # the card was pulled and put back: the old connection is dead
    _sign(signer)
    assert card.connections == connections + 1


def test_yubikey_pulled_card_is_unavailable_until_back(piv: tuple[SoftPivCard, ec.EllipticCurvePrivateKey]) -> None:
    card, signer = piv
    card.present = False
    with pytest.raises(KmsUnavailable) as caught:
        _sign(signer)
    assert caught.value.fault is Fault.DEVICE
    card.reinsert()
    _sign(signer)
