"""A software PIV card: a wire-protocol test double answering the real PIV APDUs.

No YubiKey emulator exists, so the ``yubikey:`` tests drive yubikit's real
``PivSession`` against this card through yubikit's ``SmartCardConnection``
interface: SELECT, GET VERSION/SERIAL/METADATA, VERIFY, GENERAL AUTHENTICATE
(management-key witness/challenge, signing and RSA decipher), GENERATE ASYMMETRIC, ATTEST,
GET/PUT DATA, command chaining (CLA 0x10) and response chaining (61xx + GET
RESPONSE). Keys are real ``cryptography`` keys. The card holds an F9
attestation key whose certificate is issued by a fake "Yubico PIV Root CA" it
generates; ATTEST certifies a slot key with Yubico's extensions. EC P-256 stands
in for Yubico's RSA attestation keys to keep the tests fast.
"""

from __future__ import annotations

import datetime
import hmac
import os
import threading
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID
from smartcard.Exceptions import CardConnectionException, NoCardException
from yubikit.core import TRANSPORT, Tlv
from yubikit.core.smartcard import AID, SmartCardConnection
from yubikit.piv import DEFAULT_MANAGEMENT_KEY, KEY_TYPE, MANAGEMENT_KEY_TYPE, OBJECT_ID, PIN_POLICY, SLOT, TOUCH_POLICY

OID_FIRMWARE = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.8")

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_STATUS = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_INCORRECT_DATA = 0x6A80
SW_FILE_NOT_FOUND = 0x6A82
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_INS_NOT_SUPPORTED = 0x6D00
SW_ABORTED = 0x6F00

_CHUNK = 0xFF
_PIV_AID_FULL = AID.PIV + bytes.fromhex("000010000100")
_PIN_P2 = 0x80
_MANAGEMENT_SLOT = 0x9B
_SLOT_DEFAULT_PIN_POLICY = {SLOT.SIGNATURE: PIN_POLICY.ALWAYS, SLOT.CARD_AUTH: PIN_POLICY.NEVER}


class CardError(Exception):
    """Ends a command with a status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW={sw:04x}")
        self.sw = sw


@dataclass
class SlotKey:
    key: PrivateKeyTypes
    key_type: KEY_TYPE
    pin_policy: PIN_POLICY
    touch_policy: TOUCH_POLICY


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
                    issuer_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    start = datetime.datetime(2016, 3, 14, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(body)]) + body


def _generate(key_type: KEY_TYPE) -> PrivateKeyTypes:
    if key_type is KEY_TYPE.ECCP256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KEY_TYPE.ECCP384:
        return ec.generate_private_key(ec.SECP384R1())
    if key_type is KEY_TYPE.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if key_type in (KEY_TYPE.RSA2048, KEY_TYPE.RSA3072, KEY_TYPE.RSA4096):
        return rsa.generate_private_key(65537, key_type.bit_len)
    raise CardError(SW_INCORRECT_DATA)


def _encoded_public_key(key: PrivateKeyTypes) -> bytes:
    """The public key as GENERATE and GET METADATA return it (without 7F49)."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return Tlv(0x81, numbers.n.to_bytes(public.key_size // 8, "big")) + Tlv(0x82, numbers.e.to_bytes(3, "big"))
    if isinstance(public, ed25519.Ed25519PublicKey):
        return Tlv(0x86, public.public_bytes_raw())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return Tlv(0x86, public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def _sign(key: PrivateKeyTypes, data: bytes) -> bytes:
    """What the card's GENERAL AUTHENTICATE computes: ECDSA over the hash given,
    raw RSA over the padded block (and over the ciphertext: PIV's decipher, which the
    host unpads), Ed25519 over the message."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if len(data) != (key.curve.key_size + 7) // 8:
            raise CardError(SW_INCORRECT_DATA)
        hash_alg = hashes.SHA256() if len(data) == 32 else hashes.SHA384()
        return key.sign(data, ec.ECDSA(utils.Prehashed(hash_alg)))
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        block = int.from_bytes(data, "big")
        if len(data) != key.key_size // 8 or block >= numbers.public_numbers.n:
            raise CardError(SW_INCORRECT_DATA)
        m1, m2 = pow(block, numbers.dmp1, numbers.p), pow(block, numbers.dmq1, numbers.q)  # CRT
        return (m2 + numbers.iqmp * (m1 - m2) % numbers.p * numbers.q).to_bytes(len(data), "big")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.sign(data)


def parse_apdu(apdu: bytes) -> tuple[int, int, int, int, bytes]:
    """CLA, INS, P1, P2 and data of a short or extended command APDU."""
    if len(apdu) < 4:
        raise CardError(SW_WRONG_LENGTH)
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if len(body) <= 1:  # no data; Le or the explicit empty Lc
        return cla, ins, p1, p2, b""
    if body[0] == 0:  # extended: 00 Lc Lc data [Le Le], or 00 Le Le
        length = int.from_bytes(body[1:3], "big")
        if len(body) == 3:
            return cla, ins, p1, p2, b""
        data = body[3 : 3 + length]
        if len(data) != length or len(body) not in (3 + length, 5 + length):
            raise CardError(SW_WRONG_LENGTH)
        return cla, ins, p1, p2, data
    data = body[1 : 1 + body[0]]
    if len(data) != body[0] or len(body) not in (1 + body[0], 2 + body[0]):
        raise CardError(SW_WRONG_LENGTH)
    return cla, ins, p1, p2, data


class SoftPivCard:
    """The card: keys, data objects, PIN and management key, attestation PKI."""

    def __init__(
        self,
        *,
        serial: int = 13371337,
        version: tuple[int, int, int] = (5, 7, 1),
        pin: str = "123456",
        pin_attempts: int = 3,
        management_key: bytes = DEFAULT_MANAGEMENT_KEY,
        management_key_type: MANAGEMENT_KEY_TYPE | None = None,
        transport: TRANSPORT = TRANSPORT.USB,
    ) -> None:
        self.serial = serial
        self.version = version
        self.transport = transport
        self.pin = pin.encode()
        self.pin_attempts = pin_attempts
        self.pin_retries = pin_attempts
        self.management_key = management_key
        # YubiKey 5.7 ships an AES-192 management key; older firmware 3DES.
        self.management_key_type = management_key_type or (
            MANAGEMENT_KEY_TYPE.AES192 if version >= (5, 7, 0) else MANAGEMENT_KEY_TYPE.TDES
        )
        self.slots: dict[int, SlotKey] = {}
        self.objects: dict[int, bytes] = {}
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root_certificate = _ca_certificate("Yubico PIV Root CA Serial 263751", self.root_key, None, self.root_key)
        self.attestation_key = ec.generate_private_key(ec.SECP256R1())
        self.attestation_certificate = _ca_certificate(
            "Yubico PIV Attestation", self.attestation_key, self.root_certificate, self.root_key
        )
        der = self.attestation_certificate.public_bytes(serialization.Encoding.DER)
        self.objects[OBJECT_ID.ATTESTATION] = Tlv(0x70, der) + Tlv(0x71, b"\0") + Tlv(0xFE)
        self.apdus = 0
        self._busy = threading.Lock()
        self.generation = 0  # insertions; a connection only works on the insertion it was made on
        self.present = True  # False: pulled from the reader, as pyscard reports it
        self.connections = 0

    def connect(self) -> SoftPivConnection:
        """A new connection, as a PC/SC reader would give (fresh security state)."""
        if not self.present:
            raise NoCardException("no card in the reader", 0x8010000C)
        self.connections += 1
        return SoftPivConnection(self)

    def reinsert(self) -> None:
        """Back in the reader: the connections of before stay dead, as after a real reset."""
        self.present = True
        self.generation += 1

    def certificate(self, slot: int) -> x509.Certificate | None:
        """The certificate stored for a slot, read straight from the data object."""
        data = self.objects.get(OBJECT_ID.from_slot(SLOT(slot)))
        return x509.load_der_x509_certificate(Tlv.parse_dict(data)[0x70]) if data else None

    def enter(self) -> None:
        """Mark an APDU in progress; a second one at the same time is a host bug."""
        if not self._busy.acquire(blocking=False):
            raise CardError(SW_ABORTED)
        self.apdus += 1

    def leave(self) -> None:
        self._busy.release()

    def attest(self, slot: int, key: SlotKey) -> x509.Certificate:
        """An attestation certificate for a slot key, signed by the F9 key."""
        issuer = self.attestation_certificate
        return (
            x509.CertificateBuilder()
            .subject_name(_name(f"YubiKey PIV Attestation {slot:02x}"))
            .issuer_name(issuer.subject)
            .public_key(key.key.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(issuer.not_valid_before_utc)
            .not_valid_after(issuer.not_valid_after_utc)
            .add_extension(x509.UnrecognizedExtension(OID_FIRMWARE, bytes(self.version)), critical=False)
            .add_extension(x509.UnrecognizedExtension(OID_SERIAL, _der_integer(self.serial)), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(OID_POLICY, bytes([key.pin_policy, key.touch_policy])), critical=False
            )
            .sign(self.attestation_key, hashes.SHA256())
        )


@dataclass
class _SessionState:
    """What a card remembers for one connection."""

    selected: bool = False
    pin_verified: bool = False
    pin_fresh: bool = False  # verified since the last private-key use (PIN policy ALWAYS)
    management_authenticated: bool = False
    witness: bytes | None = None
    chained: bytes = b""
    chained_ins: int | None = None
    pending: bytes = field(default=b"")


class SoftPivConnection(SmartCardConnection):
    """yubikit's ``SmartCardConnection`` onto a :class:`SoftPivCard`."""

    def __init__(self, card: SoftPivCard) -> None:
        self.card = card
        self.generation = card.generation
        self.state = _SessionState()
        self.closed = False
        self._handlers = {
            0xA4: self._select,
            0xFD: self._get_version,
            0xF8: self._get_serial,
            0xF7: self._get_metadata,
            0x20: self._verify,
            0x87: self._general_authenticate,
            0x47: self._generate,
            0xF9: self._attest,
            0xCB: self._get_data,
            0xDB: self._put_data,
        }

    @property
    def transport(self) -> TRANSPORT:
        return self.card.transport

    def close(self) -> None:
        self.closed = True

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if not self.card.present or self.generation != self.card.generation:
            raise CardConnectionException("the card was removed", 0x80100069)
        try:
            self.card.enter()
        except CardError as exc:
            return b"", exc.sw
        try:
            return self._process(apdu)
        except CardError as exc:
            return b"", exc.sw
        finally:
            self.card.leave()

    def _process(self, apdu: bytes) -> tuple[bytes, int]:
        cla, ins, p1, p2, data = parse_apdu(apdu)
        state = self.state
        if ins == 0xC0:
            if not state.pending:
                raise CardError(SW_CONDITIONS)
            return self._respond(state.pending)
        state.pending = b""
        if cla & 0x10:
            if state.chained_ins not in (None, ins):
                raise CardError(SW_CONDITIONS)
            state.chained += data
            state.chained_ins = ins
            return b"", SW_OK
        if state.chained_ins not in (None, ins):
            raise CardError(SW_CONDITIONS)
        data, state.chained, state.chained_ins = state.chained + data, b"", None
        handler = self._handlers.get(ins)
        if handler is None or (ins != 0xA4 and not state.selected):
            raise CardError(SW_INS_NOT_SUPPORTED)
        return self._respond(handler(p1, p2, data))

    def _respond(self, data: bytes) -> tuple[bytes, int]:
        """Send at most one chunk; 61xx tells the host to GET RESPONSE the rest."""
        chunk, rest = data[:_CHUNK], data[_CHUNK:]
        self.state.pending = rest
        if rest:
            return chunk, 0x6100 | min(len(rest), 0xFF)
        return chunk, SW_OK

    def _select(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 != 0x04 or len(data) < len(AID.PIV) or not _PIV_AID_FULL.startswith(data):
            raise CardError(SW_FILE_NOT_FOUND)
        self.state = _SessionState(selected=True)
        return Tlv(0x61, Tlv(0x4F, bytes.fromhex("0000100001000100")) + Tlv(0x79, Tlv(0x4F, AID.PIV)))

    def _get_version(self, p1: int, p2: int, data: bytes) -> bytes:
        return bytes(self.card.version)

    def _get_serial(self, p1: int, p2: int, data: bytes) -> bytes:
        if self.card.version < (5, 0, 3):
            raise CardError(SW_INS_NOT_SUPPORTED)
        return self.card.serial.to_bytes(4, "big")

    def _get_metadata(self, p1: int, p2: int, data: bytes) -> bytes:
        card = self.card
        if card.version < (5, 3, 0):
            raise CardError(SW_INS_NOT_SUPPORTED)
        if p2 == _PIN_P2:
            default = card.pin == b"123456"
            return Tlv(0x05, bytes([default])) + Tlv(0x06, bytes([card.pin_attempts, card.pin_retries]))
        if p2 == _MANAGEMENT_SLOT:
            default = card.management_key == DEFAULT_MANAGEMENT_KEY
            return (
                Tlv(0x01, bytes([card.management_key_type]))
                + Tlv(0x02, bytes([PIN_POLICY.NEVER, TOUCH_POLICY.NEVER]))
                + Tlv(0x05, bytes([default]))
            )
        key = card.slots.get(p2)
        if key is None:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        return (
            Tlv(0x01, bytes([key.key_type]))
            + Tlv(0x02, bytes([key.pin_policy, key.touch_policy]))
            + Tlv(0x03, b"\x01")  # generated on the card
            + Tlv(0x04, _encoded_public_key(key.key))
        )

    def _verify(self, p1: int, p2: int, data: bytes) -> bytes:
        card, state = self.card, self.state
        if p2 != _PIN_P2:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        if not data:
            if state.pin_verified:
                return b""
            raise CardError(0x63C0 | min(card.pin_retries, 0xF))
        if card.pin_retries == 0:
            raise CardError(SW_AUTH_BLOCKED)
        if len(data) != 8 or not hmac.compare_digest(data.rstrip(b"\xff"), card.pin):
            card.pin_retries -= 1
            state.pin_verified = state.pin_fresh = False
            raise CardError(0x63C0 | min(card.pin_retries, 0xF))
        card.pin_retries = card.pin_attempts
        state.pin_verified = state.pin_fresh = True
        return b""

    def _management_cipher(self) -> Cipher:
        card = self.card
        if card.management_key_type is MANAGEMENT_KEY_TYPE.TDES:
            return Cipher(TripleDES(card.management_key), modes.ECB())
        return Cipher(algorithms.AES(card.management_key), modes.ECB())

    def _general_authenticate(self, p1: int, p2: int, data: bytes) -> bytes:
        try:
            fields = Tlv.parse_dict(Tlv.unpack(0x7C, data))
        except ValueError:
            raise CardError(SW_INCORRECT_DATA) from None
        if p2 == _MANAGEMENT_SLOT:
            return Tlv(0x7C, self._management_authenticate(p1, fields))
        return Tlv(0x7C, Tlv(0x82, self._use_key(p1, p2, fields)))

    def _management_authenticate(self, p1: int, fields: dict[int, bytes]) -> bytes:
        """Mutual authentication as yubikit does it: the card sends an encrypted
        witness; the host returns it decrypted with its own challenge."""
        state = self.state
        if p1 != self.card.management_key_type:
            raise CardError(SW_INCORRECT_DATA)
        cipher = self._management_cipher()
        if fields.get(0x80) == b"" and 0x81 not in fields:
            state.witness = os.urandom(self.card.management_key_type.challenge_len)
            state.management_authenticated = False
            encryptor = cipher.encryptor()
            return Tlv(0x80, encryptor.update(state.witness) + encryptor.finalize())
        witness, state.witness = state.witness, None
        if witness is None or 0x81 not in fields:
            raise CardError(SW_CONDITIONS)
        if not hmac.compare_digest(fields.get(0x80, b""), witness):
            raise CardError(SW_SECURITY_STATUS)
        state.management_authenticated = True
        encryptor = cipher.encryptor()
        return Tlv(0x82, encryptor.update(fields[0x81]) + encryptor.finalize())

    def _use_key(self, p1: int, slot: int, fields: dict[int, bytes]) -> bytes:
        state = self.state
        key = self.card.slots.get(slot)
        if key is None:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        if p1 != key.key_type or fields.get(0x82) != b"" or 0x81 not in fields:
            raise CardError(SW_INCORRECT_DATA)
        needs = {PIN_POLICY.ALWAYS: state.pin_fresh, PIN_POLICY.ONCE: state.pin_verified}
        if not needs.get(key.pin_policy, True):
            raise CardError(SW_SECURITY_STATUS)
        state.pin_fresh = False
        return _sign(key.key, fields[0x81])

    def _generate(self, p1: int, slot: int, data: bytes) -> bytes:
        if not self.state.management_authenticated:
            raise CardError(SW_SECURITY_STATUS)
        try:
            fields = Tlv.parse_dict(Tlv.unpack(0xAC, data))
            key_type = KEY_TYPE(fields[0x80][0])
            pin_policy = PIN_POLICY(fields.get(0xAA, b"\0")[0])
            touch_policy = TOUCH_POLICY(fields.get(0xAB, b"\0")[0])
            slot = SLOT(slot)
        except (ValueError, KeyError):
            raise CardError(SW_INCORRECT_DATA) from None
        if slot is SLOT.ATTESTATION:
            raise CardError(SW_INCORRECT_DATA)
        if pin_policy is PIN_POLICY.DEFAULT:
            pin_policy = _SLOT_DEFAULT_PIN_POLICY.get(slot, PIN_POLICY.ONCE)
        if touch_policy is TOUCH_POLICY.DEFAULT:
            touch_policy = TOUCH_POLICY.NEVER
        key = SlotKey(_generate(key_type), key_type, pin_policy, touch_policy)
        self.card.slots[slot] = key
        return Tlv(0x7F49, _encoded_public_key(key.key))

    def _attest(self, slot: int, p2: int, data: bytes) -> bytes:
        if self.card.version < (4, 3, 0):
            raise CardError(SW_INS_NOT_SUPPORTED)
        key = self.card.slots.get(slot)
        if key is None:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        return self.card.attest(slot, key).public_bytes(serialization.Encoding.DER)

    def _object_id(self, p1: int, p2: int, data: bytes) -> tuple[int, bytes]:
        if (p1, p2) != (0x3F, 0xFF):
            raise CardError(SW_INCORRECT_DATA)
        try:
            tlv, rest = Tlv.parse_from(data)
        except ValueError:
            raise CardError(SW_INCORRECT_DATA) from None
        if tlv.tag != 0x5C:
            raise CardError(SW_INCORRECT_DATA)
        return int.from_bytes(tlv.value, "big"), rest

    def _get_data(self, p1: int, p2: int, data: bytes) -> bytes:
        object_id, _ = self._object_id(p1, p2, data)
        value = self.card.objects.get(object_id)
        if value is None:
            raise CardError(SW_FILE_NOT_FOUND)
        return Tlv(0x53, value)

    def _put_data(self, p1: int, p2: int, data: bytes) -> bytes:
        if not self.state.management_authenticated:
            raise CardError(SW_SECURITY_STATUS)
        object_id, rest = self._object_id(p1, p2, data)
        try:
            value = Tlv.unpack(0x53, rest)
        except ValueError:
            raise CardError(SW_INCORRECT_DATA) from None
        if value:
            self.card.objects[object_id] = value
        else:
            self.card.objects.pop(object_id, None)
        return b""
