"""device-attest-01 with the ``step`` format (YubiKey PIV), end to end through the ACME API.

The YubiKey is ``tests.kms.fakes.piv_card``: a software PIV card answering yubikit's real
APDUs, with an attestation hierarchy in the shape of Yubico's (root -> F9 -> slot
certificate with Yubico's serial, firmware and policy extensions), driven through the
yubikey KMS backend (``create_key``, ``attest``, ``create_signer``). Yubico's real roots are
not exercised: the provisioner trusts the test card's root (``attestationRoots``).
Issued certificates are checked with ``openssl verify`` and ``openssl x509 -text``.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any, Iterator

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from yubikit.piv import DEFAULT_MANAGEMENT_KEY

from appliance.errors import ApplianceError
from appliance.kms import KeyType, parse_uri
from appliance.kms.yubikey import YubiKeyKMS
from appliance.pki.permanent_identifier import permanent_identifiers
from tests.acme.client import AcmeClient, b64
from tests.acme.conftest import AcmeEnv, device_attest_env, roots_field, start
from tests.acme.servers import DnsServer, HttpServer, TlsAlpnServer
from tests.kms.fakes.piv_card import SoftPivCard

SLOT = f"yubikey:slot-id=9a?pin-value=123456&management-key={DEFAULT_MANAGEMENT_KEY.hex()}"
OTHER_SLOT = f"yubikey:slot-id=9c?pin-value=123456&management-key={DEFAULT_MANAGEMENT_KEY.hex()}"
BAD_ATTESTATION = "urn:ietf:params:acme:error:badAttestationStatement"


@pytest.fixture
def card() -> SoftPivCard:
    return SoftPivCard(serial=13371337)


@pytest.fixture
def kms(card: SoftPivCard) -> YubiKeyKMS:
    kms = YubiKeyKMS(parse_uri("yubikey:"), readers=lambda: [card.connect])
    kms.create_key(SLOT, KeyType.EC_P256)
    return kms


@pytest.fixture
def env(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
        card: SoftPivCard) -> Iterator[AcmeEnv]:
    with device_attest_env(tmp_path, responders, "step", card.root_certificate) as running:
        yield running


def step_attestation(kms: YubiKeyKMS, key_authorization: str, *, attest: str = SLOT, sign: str = SLOT) -> bytes:
    """The attObj ``step ca certificate --attestation-uri`` sends: the slot's attestation chain and
    the slot key's signature of the key authorization (CBOR-encoded, as step-ca expects)."""
    chain = kms.attest(attest)
    signer = kms.create_signer(sign)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    signature = signer.sign(key_authorization.encode(), ec.ECDSA(hashes.SHA256()))
    return cbor2.dumps({"fmt": "step", "attStmt": {
        "alg": -7, "sig": cbor2.dumps(signature), "x5c": [c.public_bytes(Encoding.DER) for c in chain]}})


def order_for(client: AcmeClient, serial: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new order for a permanent identifier: the order, its authorization and its challenge."""
    response = client.post(client.directory["newOrder"],
                           {"identifiers": [{"type": "permanent-identifier", "value": serial}]})
    assert response.status_code == 201, response.text
    order = response.json() | {"url": response.headers["Location"]}
    authz = client.post(order["authorizations"][0]).json()
    assert [c["type"] for c in authz["challenges"]] == ["device-attest-01"]
    return order, authz, authz["challenges"][0]


def answer(client: AcmeClient, challenge: dict[str, Any], att_obj: bytes) -> dict[str, Any]:
    response = client.post(challenge["url"], {"attObj": b64(att_obj)})
    assert response.status_code == 200, response.text
    return response.json()


def attested_csr(kms: YubiKeyKMS, common_name: str, key: str = SLOT) -> x509.CertificateSigningRequest:
    signer = kms.create_signer(key)
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .sign(signer, hashes.SHA256()))  # type: ignore[arg-type]


def test_yubikey_gets_a_certificate_for_its_serial(env: AcmeEnv, kms: YubiKeyKMS, card: SoftPivCard,
                                                   tmp_path: Path) -> None:
    client = env.account()
    order, authz, challenge = order_for(client, "13371337")
    answered = answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"])))
    assert answered["status"] == "valid", answered
    assert client.post(order["authorizations"][0]).json()["status"] == "valid"
    with env.database.transaction() as conn:
        from appliance.db.acme_schema import acme_authorizations
        stored = conn.execute(acme_authorizations.select()).first()
    assert stored is not None and stored.attestation["serialNumber"] == "13371337"
    assert stored.attestation["firmware"] == "5.7.1" and stored.attestation["pinPolicy"] == "once"
    assert stored.attestation["touchPolicy"] == "never" and stored.attestation["format"] == "step"

    assert client.poll(order["url"], ("ready", "invalid"))["status"] == "ready"
    finalized = client.finalize(order, attested_csr(kms, "13371337"))
    assert finalized.status_code == 200, finalized.text
    done = client.poll(order["url"])
    assert done["status"] == "valid"
    chain_pem = client.post(done["certificate"]).text
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    assert leaf.public_key() == card.slots[0x9A].key.public_key()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "13371337"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert permanent_identifiers(san) == ["13371337"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ExtendedKeyUsageOID.CLIENT_AUTH]  # step's attested leaf template

    assert_verified_for(env, leaf, tmp_path, "13371337")


def assert_verified_for(env: AcmeEnv, leaf: x509.Certificate, tmp_path: Path, identifier: str) -> None:
    """``openssl verify`` accepts the leaf and its SAN is the permanent identifier ``identifier``."""
    path = tmp_path / "leaf.pem"
    path.write_bytes(leaf.public_bytes(Encoding.PEM))
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(env.ca.root_path), "-untrusted",
                               str(env.ca.intermediate_path), str(path)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert openssl_san(path) == ["OBJECT            :Permanent Identifier", f"UTF8STRING        :{identifier}"]


def openssl_san(path: Path) -> list[str]:
    """The SAN extension's otherName as ``openssl asn1parse`` decodes it (``openssl x509 -text``
    prints a permanent identifier as ``<unsupported>``)."""
    lines = subprocess.run(["openssl", "asn1parse", "-in", str(path)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "X509v3 Subject Alternative Name" in line)
    offset = lines[at + 1].split(":")[0].strip()
    inner = subprocess.run(["openssl", "asn1parse", "-in", str(path), "-strparse", offset], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    return [line.split("prim:")[1].strip() for line in inner if "prim:" in line]


def _refused(answered: dict[str, Any], detail: str) -> None:
    assert answered["status"] == "invalid", answered
    assert answered["error"]["type"] == BAD_ATTESTATION, answered
    assert detail in answered["error"]["detail"], answered


def test_wrong_serial_is_refused(env: AcmeEnv, kms: YubiKeyKMS) -> None:
    client = env.account()
    order, _, challenge = order_for(client, "42")
    answered = answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"])))
    _refused(answered, "permanent identifier does not match")
    assert answered["error"]["subproblems"][0]["identifier"] == {"type": "permanent-identifier", "value": "42"}
    assert client.post(order["url"]).json()["status"] == "invalid"


def test_attestation_of_another_key_is_refused(env: AcmeEnv, kms: YubiKeyKMS) -> None:
    kms.create_key(OTHER_SLOT, KeyType.EC_P256)
    client = env.account()
    _, _, challenge = order_for(client, "13371337")
    att_obj = step_attestation(kms, client.key_authorization(challenge["token"]), attest=SLOT, sign=OTHER_SLOT)
    _refused(answer(client, challenge, att_obj), "not the attested key's signature")


def test_chain_to_an_untrusted_root_is_refused(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
                                               kms: YubiKeyKMS) -> None:
    other = SoftPivCard(serial=13371337)
    with device_attest_env(tmp_path, responders, "step", other.root_certificate) as env:
        client = env.account()
        _, _, challenge = order_for(client, "13371337")
        _refused(answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"]))),
                 "x5c is not valid")


def test_shipped_yubico_roots_do_not_trust_the_test_card(tmp_path: Path, kms: YubiKeyKMS,
                                                         responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    with start(tmp_path, responders, challenges=["device-attest-01"]) as env:
        client = env.account()
        _, _, challenge = order_for(client, "13371337")
        _refused(answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"]))),
                 "x5c is not valid")


def test_replayed_attestation_is_refused(env: AcmeEnv, kms: YubiKeyKMS) -> None:
    client = env.account()
    _, _, first = order_for(client, "13371337")
    att_obj = step_attestation(kms, client.key_authorization(first["token"]))
    assert answer(client, first, att_obj)["status"] == "valid"
    _, _, second = order_for(client, "13371337")
    _refused(answer(client, second, att_obj), "not the attested key's signature")
    other_account = env.account()
    _, _, third = order_for(other_account, "13371337")
    _refused(answer(other_account, third, att_obj), "not the attested key's signature")


def test_finalize_refuses_a_key_that_is_not_the_attested_one(env: AcmeEnv, kms: YubiKeyKMS) -> None:
    kms.create_key(OTHER_SLOT, KeyType.EC_P256)
    client = env.account()
    order, _, challenge = order_for(client, "13371337")
    assert answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"])))["status"] == "valid"
    refused = client.finalize(order, attested_csr(kms, "13371337", OTHER_SLOT))
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:ietf:params:acme:error:badCSR"
    assert "not the attested key" in refused.json()["detail"]
    wrong_name = client.finalize(order, attested_csr(kms, "12345678"))
    assert wrong_name.status_code == 400 and "permanent identifier" in wrong_name.json()["detail"]
    assert client.post(order["url"]).json()["status"] == "ready"


def test_malformed_answers_change_nothing(env: AcmeEnv) -> None:
    client = env.account()
    _, _, challenge = order_for(client, "13371337")
    for payload in ({}, {"attObj": "%%%"}, {"attObj": b64(b"\xff\x00")}, {"attObj": b64(cbor2.dumps([1, 2]))}):
        response = client.post(challenge["url"], payload)
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert client.post(challenge["url"]).json()["status"] == "pending"
    answered = answer(client, challenge, cbor2.dumps({"fmt": "packed", "attStmt": {}}))
    _refused(answered, "unsupported attestation format")


def test_a_disabled_format_is_refused(tmp_path: Path, responders: tuple[DnsServer, HttpServer, TlsAlpnServer],
                                      kms: YubiKeyKMS, card: SoftPivCard) -> None:
    with start(tmp_path, responders, challenges=["device-attest-01"], attestationFormats=["apple"],
               attestationRoots=roots_field(card.root_certificate)) as env:
        client = env.account()
        _, _, challenge = order_for(client, "13371337")
        _refused(answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"]))),
                 "is not enabled")


def test_permanent_identifiers_need_device_attest(env: AcmeEnv) -> None:
    client = env.account()
    dns = client.new_order("host.example.test")
    assert dns.status_code == 403 and "no enabled challenge" in dns.json()["detail"]
    mixed = client.post(client.directory["newOrder"], {"identifiers": [
        {"type": "permanent-identifier", "value": "1"}, {"type": "permanent-identifier", "value": "2"}]})
    assert mixed.status_code == 403 and mixed.json()["type"] == "urn:ietf:params:acme:error:rejectedIdentifier"


@pytest.mark.parametrize("fields, message", [
    ({"attestationFormats": ["step", "packed"]}, "unsupported attestationFormats packed"),
    ({"attestationRoots": "not base64!"}, "'attestationRoots' must be a base64-encoded bundle of PEM certificates"),
    ({"attestationRoots": base64.b64encode(b"no PEM here").decode()}, "'attestationRoots' must be a base64"),
    ({"challenges": ["device-attest-02"]}, "unsupported challenges device-attest-02"),
])
def test_bad_attestation_settings_refuse_to_load(tmp_path: Path, fields: dict[str, Any], message: str,
                                                 responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    with pytest.raises(ApplianceError, match=message):
        start(tmp_path, responders, **{"challenges": ["device-attest-01"], **fields})


def test_templates_see_the_attestation(tmp_path: Path, kms: YubiKeyKMS, card: SoftPivCard,
                                                    responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    template = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organizationalUnit": '
                '{{ printf "%s %s pin=%s touch=%s" .AttestationData.Format .AttestationData.Firmware '
                '.AttestationData.PINPolicy .AttestationData.TouchPolicy | toJson }}, '
                '"serialNumber": {{ toJson .AttestationData.SerialNumber }}}, "sans": {{ toJson .SANs }}}')
    with device_attest_env(tmp_path, responders, "step", card.root_certificate,
                           options={"x509": {"template": template}}) as env:
        client = env.account()
        order, _, challenge = order_for(client, "13371337")
        answer(client, challenge, step_attestation(kms, client.key_authorization(challenge["token"])))
        client.poll(order["url"], ("ready", "invalid"))
        assert client.finalize(order, attested_csr(kms, "13371337")).status_code == 200
        leaf = x509.load_pem_x509_certificates(client.post(client.poll(order["url"])["certificate"]).text.encode())[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == \
        "step 5.7.1 pin=once touch=never"
    assert leaf.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "13371337"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert permanent_identifiers(san) == ["13371337"]


TOUCH_REQUIRED = ('{{ if ne .AttestationData.TouchPolicy "always" }}{{ fail "this key must require a touch" }}{{ end }}'
                  '{"subject": {"commonName": {{ toJson .Subject.CommonName }}}, "sans": {{ toJson .SANs }}}')


def test_a_template_can_require_a_touch_policy(tmp_path: Path, card: SoftPivCard,
                                               responders: tuple[DnsServer, HttpServer, TlsAlpnServer]) -> None:
    """step-ca has no provisioner option for PIN or touch policies: its templates enforce them with ``fail``."""
    kms = YubiKeyKMS(parse_uri("yubikey:"), readers=lambda: [card.connect])
    kms.create_key(SLOT, KeyType.EC_P256)  # touch policy: never
    touching = f"{OTHER_SLOT}&touch-policy=always"
    kms.create_key(touching, KeyType.EC_P256)
    with device_attest_env(tmp_path, responders, "step", card.root_certificate,
                           options={"x509": {"template": TOUCH_REQUIRED}}) as env:
        results = []
        for slot in (SLOT, touching):
            client = env.account()
            order, _, challenge = order_for(client, "13371337")
            att_obj = step_attestation(kms, client.key_authorization(challenge["token"]), attest=slot, sign=slot)
            assert answer(client, challenge, att_obj)["status"] == "valid"
            client.poll(order["url"], ("ready", "invalid"))
            results.append(client.finalize(order, attested_csr(kms, "13371337", slot)))
    never, always = results
    assert never.status_code == 400 and never.json()["detail"] == "this key must require a touch", never.text
    assert always.status_code == 200, always.text
