"""``appliance ca provisioner add|update --type SCEP`` with step's flags: the ca.json entry
step-ca would write, loaded by the CA (its decrypter opened, GetCACaps and GetCACert as set)."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from appliance.kms.softkms import encrypted_pem
from appliance.server.runtime import scep_server
from tests.ca_fixtures import TestCA, open_authority
from tests.cli.conftest import Client
from tests.provisioner.test_provisioner_cli import ca, client  # noqa: F401

DECRYPTER_PASSWORD = b"decrypter-pass-7"


def _decrypter(ca: TestCA, work: Path) -> tuple[Path, Path, Path, x509.Certificate]:
    """An RSA decrypter: its certificate (issued by the intermediate), encrypted key and password files."""
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=SCEP RA"))
                   .issuer_name(ca.intermediate.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .sign(ca.intermediate_key, hashes.SHA256()))  # type: ignore[arg-type]
    work.mkdir()
    paths = work / "ra.crt", work / "ra.key", work / "ra.pass"
    paths[0].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(encrypted_pem(key, DECRYPTER_PASSWORD))
    paths[2].write_bytes(DECRYPTER_PASSWORD + b"\n")
    return *paths, certificate


def _entry(ca: TestCA, name: str = "devices") -> dict:
    (entry,) = [p for p in json.loads(ca.config_path.read_text())["authority"]["provisioners"] if p["name"] == name]
    return entry


def test_add_scep_with_steps_flags_and_the_ca_loads_it(client: Client, ca: TestCA,  # noqa: F811
                                                       tmp_path: Path) -> None:
    cert_file, key_file, password_file, certificate = _decrypter(ca, tmp_path / "ra")
    client.ok("ca", "provisioner", "add", "devices", "--type", "SCEP", "--challenge", "s3cret-enrol",
              "--capabilities", "AES", "--capabilities", "SHA-256", "--capabilities", "POSTPKIOperation",
              "--include-root", "--exclude-intermediate", "--min-public-key-length", "3072",
              "--encryption-algorithm-identifier", "2", "--force-cn",
              "--scep-decrypter-certificate-file", cert_file, "--scep-decrypter-key-uri", f"softkms:path={key_file}",
              "--scep-decrypter-key-password-file", password_file, "--x509-default-dur", "8h",
              "--ca-config", ca.config_path)
    entry = _entry(ca)
    assert base64.b64decode(entry.pop("decrypterCertificate")) == cert_file.read_bytes()
    assert entry == {"type": "SCEP", "name": "devices", "challenge": "s3cret-enrol",
                     "capabilities": ["AES", "SHA-256", "POSTPKIOperation"], "includeRoot": True,
                     "excludeIntermediate": True, "minimumPublicKeyLength": 3072, "encryptionAlgorithmIdentifier": 2,
                     "forceCN": True, "decrypterKey": f"softkms:path={key_file}",
                     "decrypterKeyPassword": DECRYPTER_PASSWORD.decode(),
                     "claims": {"defaultTLSCertDuration": "8h"}}
    database, authority = open_authority(ca)
    scep = scep_server(authority)  # opens the decrypter through softkms, with its password
    try:
        assert scep.capabilities("devices") == "AES\nSHA-256\nPOSTPKIOperation"
        served = scep.ca_certificates("devices")
        listed = serialization.pkcs7.load_der_pkcs7_certificates(served.body)  # a SET: DER orders it
        assert len(listed) == 2 and set(listed) == {certificate, ca.root}  # no intermediate
        provisioner = authority.provisioner("devices")
        assert provisioner.minimum_public_key_length == 3072  # type: ignore[attr-defined]
        assert provisioner.response_encryption == "aes256_cbc"  # type: ignore[attr-defined]
    finally:
        scep.close()
        authority.close()
        database.close()

    client.ok("ca", "provisioner", "update", "devices", "--minimum-public-key-length", "4096",
              "--challenge", "rotated-challenge", "--scep-decrypter-key-file", key_file, "--ca-config", ca.config_path)
    updated = _entry(ca)
    assert (updated["minimumPublicKeyLength"], updated["challenge"]) == (4096, "rotated-challenge")
    assert base64.b64decode(updated["decrypterKeyPEM"]) == key_file.read_bytes()
    assert updated["includeRoot"] is True  # kept


def test_update_moves_our_old_decrypter_key_name_to_step_cas(client: Client, ca: TestCA,  # noqa: F811
                                                              tmp_path: Path) -> None:
    """A provisioner an older appliance wrote (``decrypterKeyURI``): an update with the key
    flag writes step-ca's ``decrypterKey`` alone, and the CA loads it."""
    cert_file, key_file, password_file, _ = _decrypter(ca, tmp_path / "ra")
    data = json.loads(ca.config_path.read_text())
    data["authority"]["provisioners"].append({
        "type": "SCEP", "name": "devices", "challenge": "c", "decrypterCertificate": base64.b64encode(
            cert_file.read_bytes()).decode(), "decrypterKeyURI": "softkms:path=/old/ra.key"})
    ca.config_path.write_text(json.dumps(data))
    client.ok("ca", "provisioner", "update", "devices", "--scep-decrypter-key-uri", f"softkms:path={key_file}",
              "--scep-decrypter-key-password-file", password_file, "--ca-config", ca.config_path)
    updated = _entry(ca)
    assert "decrypterKeyURI" not in updated and updated["decrypterKey"] == f"softkms:path={key_file}"
    database, authority = open_authority(ca)
    try:
        assert authority.provisioner("devices").decrypter.key_uri == f"softkms:path={key_file}"  # type: ignore[attr-defined]
    finally:
        authority.close()
        database.close()


def test_scep_flags_are_checked(client: Client, ca: TestCA) -> None:  # noqa: F811
    before = ca.config_path.read_bytes()
    args = ("--ca-config", ca.config_path)
    assert "one --challenge" in client.fails("ca", "provisioner", "add", "d", "--type", "SCEP", "--challenge", "a",
                                             "--challenge", "b", *args)
    assert "encryptionAlgorithmIdentifier" in client.fails(
        "ca", "provisioner", "add", "d", "--type", "SCEP", "--encryption-algorithm-identifier", "0", *args)
    assert "multiple of 8" in client.fails("ca", "provisioner", "add", "d", "--type", "SCEP",
                                           "--min-public-key-length", "2050", *args)
    assert "--include-root" in client.fails("ca", "provisioner", "add", "d", "--type", "OIDC", "--client-id", "x",
                                            "--configuration-endpoint", "https://idp.test/", "--include-root", *args)
    assert "--challenge does not apply" in client.fails("ca", "provisioner", "add", "d", "--type", "X5C",
                                                        "--x5c-roots", ca.root_path, "--challenge", "x", *args)
    assert "an ACME challenge is one of" in client.fails("ca", "provisioner", "add", "d", "--type", "ACME",
                                                         "--challenge", "s3cret", *args)
    assert ca.config_path.read_bytes() == before
