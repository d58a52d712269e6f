"""yubikey: keys in a YubiKey's PIV slots, through yubikit (yubikey-manager).

Key URIs follow step-kms-plugin: ``yubikey:slot-id=9a`` (9a, 9c, 9d, 9e and the
retired slots 82-95), with ``serial`` to choose among several YubiKeys,
``pin-value``/``pin-source`` and ``management-key`` (hex; also
``management-key-value``/``management-key-source``). Creating keys takes
``pin-policy`` (never, once, always) and ``touch-policy`` (never, always, cached).

Like step, a missing management key means the factory default
(010203...08): a warning is logged and the error says so if the card refuses
it. Unlike step there is no default PIN, since a wrong guess would burn one of
the card's few retries; and with several YubiKeys connected ``serial`` is
required rather than taking whichever comes first.

The manager talks to one card, opened on first use. Cards are found by a
*reader list*, one connector per reader: :func:`pcsc_readers` in production
(PC/SC, exclusive access); tests pass their own, or monkeypatch
:func:`pcsc_readers` when going through the CLI. ``serial`` is matched with
PIV's GET SERIAL (firmware 5.0.3+).

A lock keeps each operation's APDUs together, and the PIN is verified before
every signature, so keys with PIN policy "always" work. ECDSA digests and RSA
padding (PKCS#1 v1.5, PSS) are prepared here and sent through one raw GENERAL
AUTHENTICATE: yubikit's own RSA padding generates a throw-away RSA key per call.

An RSA slot (9d, Key Management, by PIV's convention; any RSA slot works) is a
decrypter (``create_decrypter``): the ciphertext goes to the card through the same
raw GENERAL AUTHENTICATE (PIV's decipher), and the padding (PKCS#1 v1.5, OAEP) is
removed on the host by ``cryptography``, as yubikit does, through a stand-in key
made once per decrypter rather than once per call.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from smartcard.Exceptions import SmartcardException
from smartcard.ExclusiveConnectCardConnection import ExclusiveConnectCardConnection
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from ykman.pcsc import ScardSmartCardConnection, list_devices
from yubikit.core import BadResponseError, CommandError, InvalidPinError, NotSupportedError, Tlv
from yubikit.core.smartcard import SW, ApduError, SmartCardConnection
from yubikit.piv import (
    DEFAULT_MANAGEMENT_KEY,
    INS_AUTHENTICATE,
    KEY_TYPE,
    PIN_POLICY,
    SLOT,
    TAG_AUTH_CHALLENGE,
    TAG_AUTH_RESPONSE,
    TAG_DYN_AUTH,
    TOUCH_POLICY,
    PivSession,
)

from appliance.errors import ErrorKind
from appliance.kms.algorithms import KeyType
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    UnsupportedKeyOperation,
)
from appliance.kms.faults import Fault, with_one_retry
from appliance.kms.interface import EVERY_DECRYPTION_PADDING, CreatedKey, DecryptionPadding, KeyManager
from appliance.pki.digest_info import DIGEST_INFO_PREFIXES
from appliance.kms.signer import DeviceRSAKey, RsaPadding, device_private_key
from appliance.kms.uri import KmsUri

logger = logging.getLogger(__name__)

KEY_SLOTS = tuple(slot for slot in SLOT if slot is not SLOT.ATTESTATION)

_KEY_TYPES = {
    KeyType.EC_P256: KEY_TYPE.ECCP256,
    KeyType.EC_P384: KEY_TYPE.ECCP384,
    KeyType.RSA_2048: KEY_TYPE.RSA2048,
    KeyType.RSA_3072: KEY_TYPE.RSA3072,
    KeyType.RSA_4096: KEY_TYPE.RSA4096,
    KeyType.ED25519: KEY_TYPE.ED25519,
}



Connector = Callable[[], SmartCardConnection]
ReaderList = Callable[[], list[Connector]]


def pcsc_readers() -> list[Connector]:
    """One connector per YubiKey reader that PC/SC lists."""
    try:
        devices = list_devices()
    except (SmartcardException, BaseSCardException) as exc:
        raise KmsError(f"PC/SC is not available (is pcscd running?): {exc}", kind=ErrorKind.UNAVAILABLE) from None
    return [functools.partial(_connect_exclusive, device.reader) for device in devices]


def _connect_exclusive(reader: Any) -> SmartCardConnection:
    """An exclusive connection: another program could otherwise use the card
    while its PIN is verified. Unlike ykman we never kill gpg's scdaemon."""
    try:
        return ScardSmartCardConnection(ExclusiveConnectCardConnection(reader.createConnection()))
    except SmartcardException as exc:
        raise KmsError(
            f"cannot open the YubiKey in '{reader.name}' exclusively (in use by another program?): {exc}",
            kind=ErrorKind.UNAVAILABLE,
        ) from None


# --- RSA encoding (RFC 8017): the card only does raw RSA on the block we send.


def encode_pkcs1v15(digest: bytes, algorithm: hashes.HashAlgorithm, key_bytes: int) -> bytes:
    """EMSA-PKCS1-v1_5: 00 01 FF..FF 00 DigestInfo(digest), ``key_bytes`` long."""
    prefix = DIGEST_INFO_PREFIXES.get(algorithm.name)
    if prefix is None:
        raise UnsupportedKeyOperation(f"RSA PKCS#1 v1.5 with {algorithm.name} is not supported")
    info = prefix + digest
    if key_bytes < len(info) + 11:
        raise UnsupportedKeyOperation("the RSA key is too small for this digest")
    return b"\x00\x01" + b"\xff" * (key_bytes - len(info) - 3) + b"\x00" + info


def _mgf1(seed: bytes, length: int, algorithm: hashes.HashAlgorithm) -> bytes:
    output = b""
    counter = 0
    while len(output) < length:
        h = hashes.Hash(algorithm)
        h.update(seed + counter.to_bytes(4, "big"))
        output += h.finalize()
        counter += 1
    return output[:length]


def encode_pss(digest: bytes, algorithm: hashes.HashAlgorithm, modulus_bits: int) -> bytes:
    """EMSA-PSS with MGF1(``algorithm``) and a salt as long as the digest,
    left-padded to the modulus length."""
    em_bits = modulus_bits - 1
    em_len = (em_bits + 7) // 8
    h_len = algorithm.digest_size
    if em_len < 2 * h_len + 2:
        raise UnsupportedKeyOperation("the RSA key is too small for PSS with this digest")
    salt = os.urandom(h_len)
    h = hashes.Hash(algorithm)
    h.update(b"\x00" * 8 + digest + salt)
    m_hash = h.finalize()
    db = b"\x00" * (em_len - 2 * h_len - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, _mgf1(m_hash, len(db), algorithm)))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    em = bytes(masked) + m_hash + b"\xbc"
    return em.rjust((modulus_bits + 7) // 8, b"\x00")


def ecdsa_block(digest: bytes, key_bytes: int) -> bytes:
    """The digest as the card wants it: exactly the curve's size, keeping the
    leftmost bytes (as ECDSA does) or left-padding with zeros."""
    return digest[:key_bytes].rjust(key_bytes, b"\x00")


# --- URI options


def _slot(uri: KmsUri) -> SLOT:
    value = uri.require("slot-id")
    try:
        slot = SLOT(int(value, 16))
    except ValueError:
        slot = None
    if slot not in KEY_SLOTS:
        raise InvalidKmsUri(
            f"invalid yubikey: URI: slot-id '{value}' is not a key slot (9a, 9c, 9d, 9e or 82-95)"
        )
    return slot


def _serial(uri: KmsUri) -> int | None:
    value = uri.get("serial")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidKmsUri("invalid yubikey: URI: serial must be a decimal number")
    return int(value)


_Policy = TypeVar("_Policy", PIN_POLICY, TOUCH_POLICY)


def _policy(uri: KmsUri, name: str, enum: type[_Policy]) -> _Policy:
    value = uri.get(name)
    if value is None:
        return enum.DEFAULT
    choices = [member.name.lower() for member in enum if member.name not in ("DEFAULT", "MATCH_ONCE", "MATCH_ALWAYS")]
    if value.lower() not in choices:
        raise InvalidKmsUri(f"invalid yubikey: URI: {name} must be one of {', '.join(choices)}")
    return enum[value.upper()]


@dataclass(frozen=True)
class _ManagementKey:
    value: bytes
    defaulted: bool  # none was given: the factory default

    @classmethod
    def from_uri(cls, uri: KmsUri) -> _ManagementKey:
        value = uri.get("management-key") or uri.secret("management-key")
        if value is None:
            logger.warning("no management-key given for the YubiKey: using the factory default")
            return cls(DEFAULT_MANAGEMENT_KEY, True)
        try:
            key = bytes.fromhex(value)
        except ValueError:
            raise InvalidKmsUri("invalid yubikey: URI: management-key must be hex") from None
        return cls(key, False)


# --- the card


@contextlib.contextmanager
def _device_errors(action: str) -> Iterator[None]:
    """yubikit's exceptions as domain errors."""
    try:
        yield
    except ApduError as exc:
        if exc.sw == SW.SECURITY_CONDITION_NOT_SATISFIED:
            raise KmsAuthenticationFailed(
                f"YubiKey {action}: access denied (the key needs the PIN: give pin-value or pin-source)"
            ) from None
        if exc.sw == SW.AUTH_METHOD_BLOCKED:
            raise KmsAuthenticationFailed(f"YubiKey {action}: the PIN is blocked") from None
        if exc.sw in (SW.REFERENCE_DATA_NOT_FOUND, SW.FILE_NOT_FOUND):
            raise KeyNotFound(f"YubiKey {action}: not found") from None
        raise KmsError(f"YubiKey {action} failed: status word {exc.sw:04X}") from None
    except NotSupportedError as exc:
        raise UnsupportedKeyOperation(f"YubiKey {action}: {exc}") from None
    except (BadResponseError, CommandError) as exc:
        raise KmsError(f"YubiKey {action} failed: {type(exc).__name__}") from None


class _Card:
    """One PIV session; ``lock`` keeps an operation's APDUs together."""

    def __init__(self, connection: SmartCardConnection) -> None:
        self.lock = threading.RLock()
        self._connection = connection
        try:
            with _device_errors("open PIV"):
                self.session = PivSession(connection)
                self.serial = self.session.get_serial() if self.session.version >= (5, 0, 3) else None
        except BaseException:
            connection.close()
            raise

    def close(self) -> None:
        self._connection.close()

    def verify_pin(self, pin: str | None) -> None:
        """VERIFY the PIN; with none given, leave it to the key's PIN policy."""
        if pin is None:
            return
        if len(pin.encode()) > 8:
            raise InvalidKmsUri("invalid yubikey: URI: a PIV PIN is at most 8 bytes")
        try:
            self.session.verify_pin(pin)
        except InvalidPinError as exc:
            if exc.attempts_remaining == 0:
                raise KmsAuthenticationFailed("the YubiKey rejected the PIN: it is now blocked") from None
            raise KmsAuthenticationFailed(
                f"the YubiKey rejected the PIN ({exc.attempts_remaining} retries left)"
            ) from None

    def authenticate(self, management_key: _ManagementKey) -> None:
        """Mutual authentication with the management key."""
        expected = self.session.management_key_type
        if len(management_key.value) != expected.key_len:
            raise InvalidKmsUri(
                f"invalid yubikey: URI: the card's {expected.name} management key is "
                f"{expected.key_len} bytes, not {len(management_key.value)}"
            )
        try:
            self.session.authenticate(management_key.value)
        except ApduError as exc:
            if exc.sw != SW.SECURITY_CONDITION_NOT_SATISFIED:
                raise
            hint = " (none was given, so the factory default was tried)" if management_key.defaulted else ""
            raise KmsAuthenticationFailed(f"the YubiKey refused the management key{hint}") from None
        except BadResponseError:
            raise KmsAuthenticationFailed("the YubiKey answered the management key challenge wrongly") from None

    def key(self, slot: SLOT) -> tuple[KEY_TYPE, PublicKeyTypes] | None:
        """The slot's key type and public key, from the device or else (firmware
        before 5.3: no metadata; imported keys have no attestation) from the
        slot's certificate."""
        found = self.device_key(slot)
        if found is not None or self.session.version >= (5, 3, 0):
            return found
        certificate = self.certificate(slot)
        if certificate is None:
            return None
        public_key = certificate.public_key()
        return KEY_TYPE.from_public_key(public_key), public_key

    def device_key(self, slot: SLOT) -> tuple[KEY_TYPE, PublicKeyTypes] | None:
        """The slot's key as the device reports it: GET METADATA (5.3+) or, like
        step, an attestation (4.3+); None if the slot is empty or cannot tell."""
        version = self.session.version
        try:
            if version >= (5, 3, 0):
                metadata = self.session.get_slot_metadata(slot)
                return metadata.key_type, metadata.public_key
            if version >= (4, 3, 0):
                public_key = self.session.attest_key(slot).public_key()
                return KEY_TYPE.from_public_key(public_key), public_key
        except ApduError as exc:
            if exc.sw in (SW.REFERENCE_DATA_NOT_FOUND, SW.INCORRECT_PARAMETERS):
                return None
            raise
        return None

    def certificate(self, slot: SLOT) -> x509.Certificate | None:
        try:
            return self.session.get_certificate(slot)
        except ApduError as exc:
            if exc.sw == SW.FILE_NOT_FOUND:
                return None
            raise

    def sign(self, slot: SLOT, key_type: KEY_TYPE, data: bytes) -> bytes:
        """GENERAL AUTHENTICATE with a prepared block (hash, padded RSA block or message;
        for RSA also a ciphertext: PIV's decipher is the same raw private-key operation)."""
        response = self.session.protocol.send_apdu(
            0,
            INS_AUTHENTICATE,
            key_type,
            slot,
            Tlv(TAG_DYN_AUTH, Tlv(TAG_AUTH_RESPONSE) + Tlv(TAG_AUTH_CHALLENGE, data)),
        )
        try:
            return Tlv.unpack(TAG_AUTH_RESPONSE, Tlv.unpack(TAG_DYN_AUTH, response))
        except ValueError:
            raise BadResponseError("malformed GENERAL AUTHENTICATE response") from None


def _unpad(block: bytes, rsa_padding: padding.AsymmetricPadding, stand_in: rsa.RSAPrivateKey) -> bytes:
    """The message in a padded RSA block (the card's raw decryption), unpadded by ``cryptography``
    (in constant time, with its implicit rejection): the block, encrypted raw with the stand-in's
    public key, is what the stand-in decrypts. The stand-in's modulus exceeds the card key's, so
    every block the card returns fits."""
    numbers = stand_in.public_key().public_numbers()
    return stand_in.decrypt(pow(int.from_bytes(block, "big"), numbers.e, numbers.n).to_bytes(len(block), "big"),
                            rsa_padding)


@dataclass
class _SlotKey:
    """The ``DeviceKey`` of one slot: verify the PIN, then sign on the card.
    A smart-card fault (card pulled, connection reset) re-opens the PIV
    connection and signs once more."""

    card: _Card
    slot: SLOT
    key_type: KEY_TYPE
    public_key: PublicKeyTypes
    pin: str | None
    reopen: Callable[[_Card], _Card]  # a new connection in place of the broken card given
    stand_in: rsa.RSAPrivateKey | None = None  # see _stand_in

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        if isinstance(self.public_key, rsa.RSAPublicKey):
            size = self.public_key.key_size
            if rsa_padding is RsaPadding.PSS:
                return self._sign(encode_pss(digest, algorithm, size))
            return self._sign(encode_pkcs1v15(digest, algorithm, (size + 7) // 8))
        return self._sign(ecdsa_block(digest, self.key_type.bit_len // 8))

    def sign_message(self, message: bytes) -> bytes:
        return self._sign(message)

    def decrypt(self, ciphertext: bytes, rsa_padding: padding.AsymmetricPadding) -> bytes:
        """Raw RSA on the card, the padding removed on the host; ``ValueError`` when it does not open."""
        if not isinstance(self.public_key, rsa.RSAPublicKey):
            raise UnsupportedKeyOperation(f"YubiKey slot {self.slot:02x} is not an RSA key: only RSA keys decrypt")
        if len(ciphertext) != (self.public_key.key_size + 7) // 8 or \
                int.from_bytes(ciphertext, "big") >= self.public_key.public_numbers().n:
            raise ValueError("the ciphertext does not fit the RSA key")
        if not isinstance(rsa_padding, (padding.PKCS1v15, padding.OAEP)):
            raise UnsupportedKeyOperation(f"unsupported RSA decryption padding {rsa_padding.name}")
        return _unpad(self._sign(ciphertext, "decrypt with"), rsa_padding, self._stand_in())

    def _stand_in(self) -> rsa.RSAPrivateKey:
        """A throw-away key of the slot's size, with a larger modulus, whose ``decrypt``
        removes the padding (see :func:`_unpad`); made once per decrypter."""
        assert isinstance(self.public_key, rsa.RSAPublicKey)
        modulus = self.public_key.public_numbers().n
        while self.stand_in is None or self.stand_in.public_key().public_numbers().n <= modulus:
            self.stand_in = rsa.generate_private_key(65537, self.public_key.key_size)
        return self.stand_in

    def _sign(self, data: bytes, action: str = "sign with") -> bytes:
        def attempt() -> bytes:
            card = self.card
            with card.lock, _device_errors(f"{action} slot {self.slot:02x}"):
                card.verify_pin(self.pin)
                return card.sign(self.slot, self.key_type, data)

        def heal(fault: Fault) -> None:
            self.card = self.reopen(self.card)  # the card this key uses now: an earlier heal replaced the first

        return with_one_retry(f"YubiKey slot {self.slot:02x}", attempt, heal)


class YubiKeyKMS(KeyManager):
    """PIV slots of one YubiKey; also a ``CertificateStore`` and an ``Attester``."""

    scheme = "yubikey"

    def __init__(self, uri: KmsUri, *, password: bytes | None = None, readers: ReaderList | None = None) -> None:
        """``readers`` connects to the cards (default: :func:`pcsc_readers`)."""
        super().__init__(uri, password=password)
        self._readers = readers or pcsc_readers
        self._lock = threading.Lock()
        self._open_card: _Card | None = None

    def _card(self, uri: KmsUri) -> _Card:
        """The card for ``uri``'s serial, opened on first use."""
        serial = _serial(uri)
        with self._lock:
            card = self._open_card
            if card is None:
                card = self._open_card = _open_card(self._readers(), serial)
            if serial is not None and card.serial != serial:
                raise InvalidKmsUri(
                    f"invalid yubikey: URI: this key manager uses YubiKey {card.serial}, not {serial}"
                )
            return card

    def _pin(self, uri: KmsUri) -> str | None:
        pin = uri.pin()
        if pin is None and self.password is not None:
            return self.password.decode()
        return pin

    def _locate(self, key: str | KmsUri) -> tuple[KmsUri, _Card, SLOT]:
        """The merged URI, its card and its slot (checked before the card is opened)."""
        uri = self.key_uri(key)
        slot = _slot(uri)
        return uri, self._card(uri), slot

    def _existing(self, key: str | KmsUri) -> tuple[KmsUri, _Card, SLOT, KEY_TYPE, PublicKeyTypes]:
        uri, card, slot = self._locate(key)
        with card.lock, _device_errors(f"read slot {slot:02x}"):
            found = card.key(slot)
        if found is None:
            raise KeyNotFound(f"YubiKey slot {slot:02x} holds no key")
        return uri, card, slot, *found

    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        return self._existing(key)[4]

    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        if key_type not in _KEY_TYPES:
            raise UnsupportedKeyOperation(f"yubikey: PIV cannot hold {key_type.curve or key_type.name} keys")
        uri, card, slot = self._locate(key)
        management_key = _ManagementKey.from_uri(uri)
        pin_policy = _policy(uri, "pin-policy", PIN_POLICY)
        touch_policy = _policy(uri, "touch-policy", TOUCH_POLICY)
        with card.lock, _device_errors(f"generate a key in slot {slot:02x}"):
            if card.key(slot) is not None:
                raise UnsupportedKeyOperation(
                    f"YubiKey slot {slot:02x} already holds a key: refusing to replace it"
                )
            card.authenticate(management_key)
            public_key = card.session.generate_key(slot, _KEY_TYPES[key_type], pin_policy, touch_policy)
        return CreatedKey(uri=_key_name(card, slot), public_key=public_key)

    def _slot_key(self, key: str | KmsUri) -> _SlotKey:
        uri, card, slot, key_type, public_key = self._existing(key)
        pin = self._pin(uri)
        with card.lock, _device_errors("verify the PIN"):
            card.verify_pin(pin)  # fail early on a wrong PIN
        return _SlotKey(card, slot, key_type, public_key, pin, self._reopen)

    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        slot_key = self._slot_key(key)
        return device_private_key(slot_key.public_key, slot_key)

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        return EVERY_DECRYPTION_PADDING

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        """The RSA key of a slot (9d by PIV's convention), decrypting on the card (SCEP's decrypter)."""
        slot_key = self._slot_key(key)
        if not isinstance(slot_key.public_key, rsa.RSAPublicKey):
            raise UnsupportedKeyOperation(f"YubiKey slot {slot_key.slot:02x} is not an RSA key: only RSA keys decrypt")
        return DeviceRSAKey(slot_key.public_key, slot_key)

    def _reopen(self, broken: _Card) -> _Card:
        """A new PIV connection to the card, in place of ``broken`` (unless already replaced)."""
        with self._lock:
            if self._open_card is broken or self._open_card is None:
                with contextlib.suppress(Exception):
                    broken.close()
                self._open_card = _open_card(self._readers(), broken.serial)
            return self._open_card

    def load_certificate(self, key: str | KmsUri) -> x509.Certificate:
        _, card, slot = self._locate(key)
        with card.lock, _device_errors(f"read the certificate of slot {slot:02x}"):
            certificate = card.certificate(slot)
        if certificate is None:
            raise KeyNotFound(f"YubiKey slot {slot:02x} holds no certificate")
        return certificate

    def store_certificate(self, key: str | KmsUri, certificate: x509.Certificate) -> None:
        """Write the slot's certificate; refuses one for another key than the slot's."""
        uri, card, slot = self._locate(key)
        management_key = _ManagementKey.from_uri(uri)
        with card.lock, _device_errors(f"write the certificate of slot {slot:02x}"):
            found = card.device_key(slot)
            if found is not None and found[1] != certificate.public_key():
                raise UnsupportedKeyOperation(
                    f"the certificate's public key is not the key in YubiKey slot {slot:02x}"
                )
            card.authenticate(management_key)
            card.session.put_certificate(slot, certificate)

    def attest(self, key: str | KmsUri) -> list[x509.Certificate]:
        """[slot attestation certificate, F9 attestation certificate]; Yubico's
        PIV root CA (not on the card) completes the chain."""
        _, card, slot = self._locate(key)
        with card.lock, _device_errors(f"attest slot {slot:02x}"):
            return [card.session.attest_key(slot), card.session.get_certificate(SLOT.ATTESTATION)]

    def close(self) -> None:
        with self._lock:
            if self._open_card is not None:
                self._open_card.close()
                self._open_card = None


def _open_card(connectors: list[Connector], serial: int | None) -> _Card:
    """The only YubiKey, or the one with ``serial`` (read with GET SERIAL)."""
    if not connectors:
        raise KeyNotFound("no YubiKey is connected")
    if serial is None:
        if len(connectors) > 1:
            raise InvalidKmsUri("invalid yubikey: URI: several YubiKeys are connected: choose one with serial=")
        return _Card(connectors[0]())
    for connect in connectors:
        try:
            card = _Card(connect())
        except KmsError as exc:
            logger.info("skipping a YubiKey while looking for serial %d: %s", serial, exc.message)
            continue
        if card.serial == serial:
            return card
        card.close()
    raise KeyNotFound(f"no YubiKey with serial {serial} is connected")


def _key_name(card: _Card, slot: SLOT) -> str:
    serial = f"serial={card.serial};" if card.serial is not None else ""
    return f"yubikey:{serial}slot-id={slot:02x}"
