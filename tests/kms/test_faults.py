"""KMS faults heal: classification by error class, one retry after healing, 503-class error otherwise.

PKCS#11 faults are real ones on SoftHSM2: the session closed under the signer,
the token logged out, the token's files moved away and back.
"""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import exceptions as p11

from appliance.errors import ErrorKind
from appliance.kms import KeyType, open_key_manager
from appliance.kms.errors import KmsError, SignatureCheckFailed
from appliance.kms.faults import Fault, KmsUnavailable, classify, with_one_retry
from appliance.kms.pkcs11 import PKCS11KMS
from appliance.kms.pkcs11_module import load_module
from tests.conftest import SOFTHSM_MODULE, SoftHSMToken

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


def _token_directory(label: str) -> Path:
    import os

    tokens = Path(os.environ["SOFTHSM2_CONF"]).parent / "tokens"
    for directory in tokens.iterdir():
        if label.encode() in (directory / "token.object").read_bytes():
            return directory
    raise AssertionError(f"no SoftHSM2 directory for {label}")


@pytest.mark.hsm
def test_token_moved_away_is_unavailable_and_heals_when_back(manager: PKCS11KMS, softhsm_token: SoftHSMToken,
                                                            tmp_path: Path) -> None:
    created = manager.create_key("pkcs11:object=away", KeyType.EC_P256)
    signer = manager.create_signer(created.uri)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    _sign(signer)
    directory = _token_directory(softhsm_token.label)
    shutil.move(directory, tmp_path / "away")
    try:
        for _ in range(2):  # every request while gone: 503-class, never a crash or a 500
            with pytest.raises(KmsUnavailable) as caught:
                _sign(signer)
            assert caught.value.kind is ErrorKind.UNAVAILABLE
    finally:
        shutil.move(tmp_path / "away", directory)
    _sign(signer)
