"""The SCEP provisioner's ca.json fields (step-ca's names): what is accepted, what refuses to start."""

from __future__ import annotations

import base64
import dataclasses
import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appliance.errors import BadRequest, Unauthorized
from appliance.provisioner import Audiences, Claimer, ProvisionerContext
from appliance.provisioner.scep import DEFAULT_CAPABILITIES, SCEPProvisioner
from tests.ca_fixtures import build_ca


def _context() -> ProvisionerContext:
    return ProvisionerContext(audiences=Audiences(frozenset({"ca.test"})), root_fingerprint="00",
                              started_at=datetime.datetime.now(datetime.timezone.utc), claims=Claimer())


def scep(**fields: Any) -> SCEPProvisioner:
    return SCEPProvisioner({"type": "SCEP", "name": "scep", **fields}, _context())


def test_defaults_and_the_static_challenge() -> None:
    provisioner = scep(challenge="secret1234")
    assert provisioner.capabilities == DEFAULT_CAPABILITIES
    assert provisioner.minimum_public_key_length == 2048
    assert provisioner.response_encryption is None
    provisioner.check_challenge(b"secret1234")
    with pytest.raises(Unauthorized):
        provisioner.check_challenge(b"secret123")
    with pytest.raises(Unauthorized):
        provisioner.check_challenge(b"")
    scep().check_challenge(b"anything")  # no challenge configured: step-ca accepts any
    assert "challenge" not in provisioner.to_json()


def test_minimum_public_key_length() -> None:
    provisioner = scep(minimumPublicKeyLength=3072)
    with pytest.raises(BadRequest, match="2048 bits.*3072"):
        provisioner.check_public_key(rsa.generate_private_key(65537, 2048).public_key())
    provisioner.check_public_key(ec.generate_private_key(ec.SECP256R1()).public_key())


@pytest.mark.parametrize("fields, message", [
    ({"encryptionAlgorithmIdentifier": 0}, "single DES"),
    ({"encryptionAlgorithmIdentifier": 3}, "AES-GCM"),
    ({"encryptionAlgorithmIdentifier": 9}, "must be 1"),
    ({"minimumPublicKeyLength": "big"}, "minimumPublicKeyLength"),
    ({"excludeIntermediate": True}, "needs a 'decrypterCertificate'"),
    ({"decrypterKey": "softkms:path=/k"}, "needs its 'decrypterCertificate'"),
    ({"decrypterCertificate": "not base64!"}, "must be base64"),
    ({"forceCN": "yes"}, "forceCN"),
])
def test_bad_fields_refuse_to_start(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        scep(**fields)


def test_a_decrypter_certificate_must_be_rsa_and_have_a_key(tmp_path: Any) -> None:
    ca = build_ca(tmp_path)  # EC intermediate
    from cryptography.hazmat.primitives.serialization import Encoding

    ec_pem = base64.b64encode(ca.intermediate.public_bytes(Encoding.PEM)).decode()
    with pytest.raises(BadRequest, match="RSA key"):
        scep(decrypterCertificate=ec_pem, decrypterKey="softkms:path=/k")
    rsa_ca = build_ca(tmp_path / "rsa", intermediate_kind="RSA")
    rsa_pem = base64.b64encode(rsa_ca.intermediate.public_bytes(Encoding.PEM)).decode()
    with pytest.raises(BadRequest, match="needs 'decrypterKey'"):
        scep(decrypterCertificate=rsa_pem)
    assert scep(decrypterCertificate=rsa_pem, decrypterKey="softkms:path=/k").decrypter.configured
    # appliance's older name of step-ca's decrypterKey is still read, never with it
    assert scep(decrypterCertificate=rsa_pem, decrypterKeyURI="softkms:path=/old").decrypter.key_uri == \
        "softkms:path=/old"
    with pytest.raises(BadRequest, match="both 'decrypterKey' .*and 'decrypterKeyURI'"):
        scep(decrypterCertificate=rsa_pem, decrypterKey="softkms:path=/k", decrypterKeyURI="softkms:path=/k")
    with pytest.raises(BadRequest, match="'decrypterKey' must be a string"):
        scep(decrypterCertificate=rsa_pem, decrypterKey=7)


def test_a_bare_path_decrypter_key_resolves_against_the_base_directory_a_kms_uri_does_not(tmp_path: Any) -> None:
    """As ca.json's own ``key``: a bare path is $STEPPATH's; a ``softkms:path=`` URI is read
    as given, as step-ca's softkms does."""
    from cryptography.hazmat.primitives.serialization import Encoding

    rsa_ca = build_ca(tmp_path / "rsa", intermediate_kind="RSA")
    pem = base64.b64encode(rsa_ca.intermediate.public_bytes(Encoding.PEM)).decode()
    context = dataclasses.replace(_context(), base_dir=tmp_path)

    def key_uri(value: str) -> str:
        config = {"type": "SCEP", "name": "scep", "decrypterCertificate": pem, "decrypterKey": value}
        return SCEPProvisioner(config, context).decrypter.key_uri

    assert key_uri("secrets/scep.key") == str(tmp_path / "secrets" / "scep.key")
    assert key_uri("/etc/scep.key") == "/etc/scep.key"
    assert key_uri("softkms:path=secrets/scep.key") == "softkms:path=secrets/scep.key"
