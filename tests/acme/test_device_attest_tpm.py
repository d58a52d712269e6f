"""device-attest-01 with the ``tpm`` format against a real software TPM (``swtpm`` with
``tpm2-tools``): the test makes the EK, an RSA attestation key (AK) and a P-256 key in the
TPM, issues the AK certificate under a test "TPM manufacturer / enterprise" root in the shape
WebAuthn and step-ca require (empty subject, critical SAN with the TPM's manufacturer, model
and version and the device's permanent identifier, EKU tcg-kp-AIKCertificate), certifies the
key with the AK and the SHA-256 of the key authorization as qualifying data, and sends the
attestation object step sends (``ver``, ``alg``, ``x5c``, ``sig``, ``certInfo``, ``pubArea``).
The CSR is signed by the TPM key (``tpm2_sign``); the certificate is checked with OpenSSL."""

from __future__ import annotations

import datetime
import hashlib
import random
from pathlib import Path
from typing import Any, Iterator

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_public_key
from cryptography.x509.oid import NameOID

from fido2.attestation.tpm import TpmPublicFormat

from appliance.acme import attestation
from appliance.acme.attestation import tpm
from appliance.acme.problems import AcmeError, Problem
from appliance.pki.permanent_identifier import permanent_identifier, permanent_identifiers
from tests.acme.client import AcmeClient
from tests.acme.conftest import AcmeEnv, device_attest_env, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.acme.swtpm import KEY_HANDLE, SoftwareTpm
from tests.acme.test_device_attest import BAD_ATTESTATION, answer, assert_verified_for, order_for

DEVICE = "laptop-4711"
OTHER_KEY, EXPORTABLE_KEY = KEY_HANDLE + 1, KEY_HANDLE + 2
NOW = datetime.datetime.now(datetime.timezone.utc)
TPM_SAN = x509.DirectoryName(x509.Name([x509.RelativeDistinguishedName([
    x509.NameAttribute(oid, value) for oid, value in zip(tpm.TPM_DETAILS, ("id:FFFFF1D0", "swtpm", "id:20191023"))])]))


class AttestationCA:
    """A test TPM attestation root and intermediate, issuing AK certificates."""

    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._ca("Test TPM Attestation Root", self.root_key, None)
        self.sub_key = ec.generate_private_key(ec.SECP256R1())
        self.sub = self._ca("Test TPM Attestation CA 1", self.sub_key, self.root)

    def _ca(self, name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return (self._builder(key.public_key()).subject_name(subject).issuer_name(issuer.subject if issuer else subject)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                .sign(self.root_key, hashes.SHA256()))

    @staticmethod
    def _builder(public_key: object) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
                .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30)))

    def ak_certificate(self, ak_public: object, identifier: str | None = DEVICE) -> x509.Certificate:
        names: list[x509.GeneralName] = [TPM_SAN]
        if identifier:
            names.append(permanent_identifier(identifier))
        return (self._builder(ak_public).subject_name(x509.Name([])).issuer_name(self.sub.subject)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(names), critical=True)
                .add_extension(x509.ExtendedKeyUsage([tpm.OID_AIK_CERTIFICATE]), critical=False)
                .sign(self.sub_key, hashes.SHA256()))

    def chain(self, ak_public: object, identifier: str | None = DEVICE) -> list[bytes]:
        return [c.public_bytes(Encoding.DER) for c in (self.ak_certificate(ak_public, identifier), self.sub)]


class Machine:
    """The software TPM with its AK and attested key, as step's ``tpmkms`` would hold them."""

    def __init__(self, directory: Path) -> None:
        self.tpm = SoftwareTpm(directory)
        self.ak_public = load_pem_public_key(self.tpm.create_ak())
        assert isinstance(self.ak_public, rsa.RSAPublicKey)
        self.pub_area = self.tpm.create_key()
        self.other_pub_area = self.tpm.create_key(OTHER_KEY)
        self.exportable_pub_area = self.tpm.create_key(EXPORTABLE_KEY, "userwithauth|sign|sensitivedataorigin")

    def attested_public_key(self) -> ec.EllipticCurvePublicKey:
        key = TpmPublicFormat.parse(self.pub_area).public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key

    def attestation(self, x5c: list[bytes], key_authorization: str, *, qualifying_data: bytes | None = None,
                    key: int = KEY_HANDLE, pub_area: bytes | None = None) -> dict[str, Any]:
        """step's ``attStmt`` for the key, certified for ``key_authorization``."""
        data = hashlib.sha256(key_authorization.encode()).digest() if qualifying_data is None else qualifying_data
        cert_info, sig = self.tpm.certify(data, key)
        return {"ver": "2.0", "alg": -257, "x5c": x5c, "sig": sig, "certInfo": cert_info,
                "pubArea": pub_area or self.pub_area}


def att_obj(statement: dict[str, Any]) -> bytes:
    return cbor2.dumps({"fmt": "tpm", "attStmt": statement})


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    running = Machine(tmp_path_factory.mktemp("swtpm"))
    yield running
    running.tpm.close()


@pytest.fixture(scope="module")
def attestation_ca() -> AttestationCA:
    return AttestationCA()


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
        attestation_ca: AttestationCA) -> Iterator[AcmeEnv]:
    with device_attest_env(tmp_path, responders, "tpm", attestation_ca.root) as running:
        yield running


def csr(key: ec.EllipticCurvePrivateKey, common_name: str = DEVICE) -> x509.CertificateSigningRequest:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .sign(key, hashes.SHA256()))


def attested_order(client: AcmeClient, machine: Machine, attestation_ca: AttestationCA) -> dict[str, Any]:
    order, _, challenge = order_for(client, DEVICE)
    statement = machine.attestation(attestation_ca.chain(machine.ak_public), client.key_authorization(challenge["token"]))
    answered = answer(client, challenge, att_obj(statement))
    assert answered["status"] == "valid", answered
    return order


def test_tpm_key_gets_a_certificate_for_the_device(env: AcmeEnv, machine: Machine, attestation_ca: AttestationCA,
                                                   tmp_path: Path) -> None:
    client = env.account()
    order = attested_order(client, machine, attestation_ca)
    with env.database.transaction() as conn:
        from appliance.db.acme_schema import acme_authorizations
        stored = conn.execute(acme_authorizations.select()).first()
    assert stored is not None and stored.attestation["format"] == "tpm"
    assert (stored.attestation["tpmManufacturer"], stored.attestation["tpmModel"]) == ("id:FFFFF1D0", "swtpm")

    assert client.poll(order["url"], ("ready", "invalid"))["status"] == "ready"
    tpm_key = machine.tpm.signer(machine.attested_public_key())
    finalized = client.finalize(order, csr(tpm_key))
    assert finalized.status_code == 200, finalized.text
    leaf = x509.load_pem_x509_certificates(client.post(client.poll(order["url"])["certificate"]).text.encode())[0]
    assert leaf.public_key() == tpm_key.public_key()
    assert permanent_identifiers(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [DEVICE]
    assert_verified_for(env, leaf, tmp_path, DEVICE)


def test_finalize_refuses_a_csr_for_another_key(env: AcmeEnv, machine: Machine, attestation_ca: AttestationCA) -> None:
    client = env.account()
    order = attested_order(client, machine, attestation_ca)
    client.poll(order["url"], ("ready", "invalid"))
    refused = client.finalize(order, csr(ec.generate_private_key(ec.SECP256R1())))
    assert refused.status_code == 400 and refused.json()["type"] == "urn:ietf:params:acme:error:badCSR"
    assert "not the attested key" in refused.json()["detail"]


def _refused(client: AcmeClient, challenge: dict[str, Any], statement: dict[str, Any], detail: str) -> None:
    answered = answer(client, challenge, att_obj(statement))
    assert answered["status"] == "invalid", answered
    assert answered["error"]["type"] == BAD_ATTESTATION, answered
    assert detail in answered["error"]["detail"], answered


def test_ak_chained_to_an_untrusted_root_is_refused(env: AcmeEnv, machine: Machine) -> None:
    client = env.account()
    _, _, challenge = order_for(client, DEVICE)
    stranger = AttestationCA()
    statement = machine.attestation(stranger.chain(machine.ak_public), client.key_authorization(challenge["token"]))
    _refused(client, challenge, statement, "x5c is not valid")


def test_wrong_extra_data_and_replay_are_refused(env: AcmeEnv, machine: Machine, attestation_ca: AttestationCA) -> None:
    client = env.account()
    _, _, first = order_for(client, DEVICE)
    chain = attestation_ca.chain(machine.ak_public)
    statement = machine.attestation(chain, client.key_authorization(first["token"]))
    _, _, other = order_for(client, DEVICE)
    _refused(client, other, statement, "extraData is not the SHA-256 of the key authorization")  # replayed
    _, _, third = order_for(client, DEVICE)
    wrong = machine.attestation(chain, client.key_authorization(third["token"]), qualifying_data=b"\0" * 32)
    _refused(client, third, wrong, "extraData is not the SHA-256 of the key authorization")


def test_bad_signature_and_forged_statements_are_refused(env: AcmeEnv, machine: Machine,
                                                         attestation_ca: AttestationCA) -> None:
    client = env.account()
    _, _, challenge = order_for(client, DEVICE)
    statement = machine.attestation(attestation_ca.chain(machine.ak_public), client.key_authorization(challenge["token"]))
    sig = bytearray(statement["sig"])
    sig[-1] ^= 1
    _refused(client, challenge, statement | {"sig": bytes(sig)}, "sig is not the AK's signature of certInfo")
    for forged, detail in (
            ({"pubArea": machine.other_pub_area}, "certInfo does not certify the key in pubArea"),
            ({"x5c": attestation_ca.chain(machine.ak_public, identifier=None)}, "permanent identifier does not match"),
            ({"ver": "1.2"}, 'ver must be "2.0"'),
            ({"alg": -8}, "alg must be one of")):
        _, _, challenge = order_for(client, DEVICE)
        good = machine.attestation(attestation_ca.chain(machine.ak_public), client.key_authorization(challenge["token"]))
        _refused(client, challenge, good | forged, detail)
    _, _, challenge = order_for(client, DEVICE)
    exportable = machine.attestation(attestation_ca.chain(machine.ak_public), client.key_authorization(challenge["token"]),
                                     key=EXPORTABLE_KEY, pub_area=machine.exportable_pub_area)
    _refused(client, challenge, exportable, "not fixed to the TPM")


def test_an_ak_certificate_outside_the_profile_is_refused(env: AcmeEnv, machine: Machine,
                                                          attestation_ca: AttestationCA) -> None:
    client = env.account()
    _, _, challenge = order_for(client, DEVICE)
    not_an_ak = (attestation_ca._builder(machine.ak_public).subject_name(x509.Name([])).issuer_name(attestation_ca.sub.subject)
                 .add_extension(x509.SubjectAlternativeName([TPM_SAN, permanent_identifier(DEVICE)]), critical=True)
                 .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                 .sign(attestation_ca.sub_key, hashes.SHA256()))
    x5c = [not_an_ak.public_bytes(Encoding.DER), attestation_ca.sub.public_bytes(Encoding.DER)]
    statement = machine.attestation(x5c, client.key_authorization(challenge["token"]))
    _refused(client, challenge, statement, "tcg-kp-AIKCertificate")


def test_tpm_has_no_default_roots(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
                                  machine: Machine, attestation_ca: AttestationCA) -> None:
    with start(tmp_path, responders, challenges=["device-attest-01"]) as env:
        client = env.account()
        _, _, challenge = order_for(client, DEVICE)
        statement = machine.attestation(attestation_ca.chain(machine.ak_public), client.key_authorization(challenge["token"]))
        _refused(client, challenge, statement, "no attestation roots are configured")


def test_mangled_statements_are_refused_not_errors(machine: Machine, attestation_ca: AttestationCA) -> None:
    """Truncated or bit-flipped pubArea, certInfo and sig: always badAttestationStatement (never a 500)."""
    key_authorization = "token.thumbprint"
    good = machine.attestation(attestation_ca.chain(machine.ak_public), key_authorization)
    challenge = attestation.Challenge("token", key_authorization, NOW)
    assert tpm.verify(good, [attestation_ca.root], challenge).identifiers == (DEVICE,)
    rng = random.Random(13)
    for round_ in range(600):
        name = ("pubArea", "certInfo", "sig")[round_ % 3]
        data = bytearray(good[name])
        if round_ % 2:
            del data[rng.randrange(len(data)):]
        else:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        with pytest.raises(AcmeError) as refused:
            tpm.verify(good | {name: bytes(data)}, [attestation_ca.root], challenge)
        assert refused.value.problem is Problem.BAD_ATTESTATION_STATEMENT
    for forged in ({"alg": True}, {"alg": "RS256"}, {"pubArea": "text"}, {"sig": b""}, {"certInfo": None},
                   {"x5c": b"der"}, {"x5c": [b"not DER"]}, {"ver": 2.0}):
        with pytest.raises(AcmeError) as refused:
            tpm.verify(good | forged, [attestation_ca.root], challenge)
        assert refused.value.problem is Problem.BAD_ATTESTATION_STATEMENT
