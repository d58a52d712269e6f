"""device-attest-01 with the ``apple`` format: an attestation built to Apple's documented
Managed Device Attestation shape (leaf with the serial number, UDID, SEP version and nonce
extensions, raw values; intermediate; root) under a test root, since Apple's real Enterprise
Attestation root cannot sign test data. The leaf key stands in for the Secure Enclave's."""

from __future__ import annotations

import base64
import datetime
import hashlib
from pathlib import Path
from typing import Iterator

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from appliance.acme.attestation import apple
from appliance.pki.permanent_identifier import permanent_identifiers
from tests.acme.conftest import AcmeEnv, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.test_device_attest import BAD_ATTESTATION, answer, assert_verified_for, order_for

SERIAL, UDID = "C02XK1ABJGH5", "00008103-000A1C2E3F4A001E"
NOW = datetime.datetime.now(datetime.timezone.utc)


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
                 issuer_key: ec.EllipticCurvePrivateKey, ca: bool,
                 extensions: dict[x509.ObjectIdentifier, bytes] | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for oid, value in (extensions or {}).items():
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


class AppleDevice:
    """A test "Apple Enterprise Attestation" root and sub-CA, and a device key they attest."""

    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _certificate("Test Enterprise Attestation Root CA", self.root_key, None, self.root_key, True)
        self.sub_key = ec.generate_private_key(ec.SECP384R1())
        self.sub = _certificate("Test Enterprise Attestation Sub CA 1", self.sub_key, self.root, self.root_key, True)
        self.key = ec.generate_private_key(ec.SECP256R1())

    def attestation(self, token: str) -> bytes:
        leaf = _certificate(UDID, self.key, self.sub, self.sub_key, False, {
            apple.OID_SERIAL_NUMBER: SERIAL.encode(), apple.OID_UDID: UDID.encode(),
            apple.OID_SEP_VERSION: b"21.1.0", apple.OID_NONCE: hashlib.sha256(token.encode()).digest()})
        return cbor2.dumps({"fmt": "apple", "attStmt": {"x5c": [leaf.public_bytes(Encoding.DER),
                                                                self.sub.public_bytes(Encoding.DER)]}})


@pytest.fixture
def device() -> AppleDevice:
    return AppleDevice()


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
        device: AppleDevice) -> Iterator[AcmeEnv]:
    roots = base64.b64encode(device.root.public_bytes(Encoding.PEM)).decode()
    running = start(tmp_path, responders, challenges=["device-attest-01"], attestationFormats=["apple"],
                    attestationRoots=roots)
    yield running
    running.server.close()
    running.database.close()


def test_apple_device_gets_a_certificate_for_its_udid(env: AcmeEnv, device: AppleDevice, tmp_path: Path) -> None:
    client = env.account()
    order, _, challenge = order_for(client, UDID)
    assert answer(client, challenge, device.attestation(challenge["token"]))["status"] == "valid"
    client.poll(order["url"], ("ready", "invalid"))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, UDID)])).sign(device.key, hashes.SHA256()))
    assert client.finalize(order, csr).status_code == 200
    leaf = x509.load_pem_x509_certificates(client.post(client.poll(order["url"])["certificate"]).text.encode())[0]
    assert leaf.public_key() == device.key.public_key()
    assert permanent_identifiers(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [UDID]
    assert_verified_for(env, leaf, tmp_path, UDID)


def test_the_serial_number_names_the_device_too(env: AcmeEnv, device: AppleDevice) -> None:
    client = env.account()
    _, _, challenge = order_for(client, SERIAL)
    assert answer(client, challenge, device.attestation(challenge["token"]))["status"] == "valid"


def test_refusals(env: AcmeEnv, device: AppleDevice) -> None:
    client = env.account()
    _, _, challenge = order_for(client, "ANOTHER-DEVICE")
    wrong = answer(client, challenge, device.attestation(challenge["token"]))
    assert wrong["status"] == "invalid" and wrong["error"]["type"] == BAD_ATTESTATION
    assert "permanent identifier does not match" in wrong["error"]["detail"]
    _, _, challenge = order_for(client, UDID)
    stale = answer(client, challenge, device.attestation("another token"))
    assert stale["status"] == "invalid" and "nonce" in stale["error"]["detail"]
    _, _, challenge = order_for(client, UDID)
    stranger = AppleDevice()
    untrusted = answer(client, challenge, stranger.attestation(challenge["token"]))
    assert untrusted["status"] == "invalid" and "x5c is not valid" in untrusted["error"]["detail"]
