"""The pkcs11: backend against SoftHSM2, cross-checked with OpenSC's pkcs11-tool and openssl."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from appliance.kms import KeyType, SignatureAlgorithm, open_key_manager
from appliance.kms.errors import InvalidKmsUri, KeyNotFound, KmsAuthenticationFailed, KmsError, UnsupportedKeyOperation
from appliance.kms.interface import CertificateStore, KeyDeleter, TokenInfo
from appliance.kms.pkcs11 import PKCS11KMS
from appliance.pki.blocking import run_on_loop
from tests.conftest import APPLIANCE, SOFTHSM_MODULE, SoftHSMToken, run_openssl
from tests.kms.artefacts import self_signed_ca, verify_artefacts

pytestmark = pytest.mark.hsm



@pytest.fixture
def manager(softhsm_token: SoftHSMToken) -> PKCS11KMS:
    kms = open_key_manager(softhsm_token.kms_uri)
    assert isinstance(kms, PKCS11KMS)
    yield kms
    kms.close()


def pkcs11_tool(token: SoftHSMToken, *args: str) -> str:
    result = subprocess.run(
        ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", token.label, "--login", "--pin", token.pin, *args],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("key_type", [KeyType.RSA_3072, KeyType.RSA_4096])
def test_large_rsa_keys_and_the_created_uri(manager: PKCS11KMS, key_type: KeyType, tmp_path: Path) -> None:
    """(Every other key type, sign/verify and artefacts: tests/kms/test_contract.py.)"""
    created = manager.create_key(f"pkcs11:object=ca-{key_type.name.lower()}", key_type)
    assert KeyType.of(created.public_key) is key_type
    assert "pin" not in created.uri and created.uri.startswith(f"pkcs11:module-path={SOFTHSM_MODULE};token=")
    verify_artefacts(manager.create_signer(created.uri), tmp_path)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_paddings_and_hashes(manager: PKCS11KMS, alg: str) -> None:
    created = manager.create_key("pkcs11:id=0a0b", KeyType.RSA_2048)
    signer = manager.create_signer("pkcs11:id=0a0b")
    algorithm = SignatureAlgorithm.parse(alg)
    algorithm.verify(created.public_key, algorithm.sign(signer, b"data"), b"data")


def test_one_signer_alternates_paddings_and_hashes(manager: PKCS11KMS) -> None:
    """The device key caches one mechanism per (hash, padding): each must stay apart."""
    created = manager.create_key("pkcs11:object=mixed", KeyType.RSA_2048)
    signer = manager.create_signer("pkcs11:object=mixed")
    for alg in ["RS256", "PS256", "RS384", "PS512", "RS256", "PS256", "RS512", "PS384"]:
        algorithm = SignatureAlgorithm.parse(alg)
        algorithm.verify(created.public_key, algorithm.sign(signer, alg.encode()), alg.encode())


def test_rsa_pss_root_certificate_verifies_with_openssl(manager: PKCS11KMS, tmp_path: Path, openssl) -> None:
    manager.create_key("pkcs11:object=pss", KeyType.RSA_3072)
    ca = self_signed_ca(manager.create_signer("pkcs11:object=pss"), pss=True)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    openssl("verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "ca.pem")
    assert "rsassaPss" in openssl("x509", "-in", tmp_path / "ca.pem", "-noout", "-text").stdout


def test_p384_with_sha384(manager: PKCS11KMS) -> None:
    created = manager.create_key("pkcs11:object=p384", KeyType.EC_P384)
    signer = manager.create_signer("pkcs11:object=p384")
    signature = signer.sign(b"data", ec.ECDSA(hashes.SHA384()))
    created.public_key.verify(signature, b"data", ec.ECDSA(hashes.SHA384()))


def test_keys_have_ca_attributes_and_are_visible_to_pkcs11_tool(manager: PKCS11KMS, softhsm_token: SoftHSMToken) -> None:
    created = manager.create_key("pkcs11:id=7331;object=int-key", KeyType.EC_P256)
    assert ";id=7331;object=int-key" in created.uri
    listing = pkcs11_tool(softhsm_token, "--list-objects")
    private = listing[listing.index("Private Key Object"):]
    assert "label:      int-key" in private and "ID:         7331" in private
    assert "sign" in private.split("Usage:")[1].splitlines()[0]
    access = private.split("Access:")[1].splitlines()[0]
    assert "sensitive" in access and "never extractable" in access and "local" in access
    public_der = subprocess.run(
        ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", softhsm_token.label,
         "--read-object", "--type", "pubkey", "--id", "7331"],
        capture_output=True, check=True,
    ).stdout
    assert serialization.load_der_public_key(public_der) == created.public_key


def test_key_made_by_pkcs11_tool_is_usable(manager: PKCS11KMS, softhsm_token: SoftHSMToken, tmp_path: Path) -> None:
    pkcs11_tool(softhsm_token, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "beef", "--label", "from-opensc")
    signer = manager.create_signer("pkcs11:id=%be%ef")  # percent-encoded bytes name the same id
    assert manager.get_public_key("pkcs11:object=from-opensc") == signer.public_key()
    verify_artefacts(signer, tmp_path, ssh=False)


def test_refuses_to_overwrite_and_generates_ids(manager: PKCS11KMS) -> None:
    first = manager.create_key("pkcs11:object=one", KeyType.EC_P256)
    with pytest.raises(UnsupportedKeyOperation, match="labelled 'one' exists"):
        manager.create_key("pkcs11:object=one", KeyType.EC_P256)
    key_id = first.uri.split(";id=")[1].split(";")[0]
    with pytest.raises(UnsupportedKeyOperation, match=f"id={key_id} exists"):
        manager.create_key(f"pkcs11:id={key_id};object=two", KeyType.EC_P256)
    assert manager.get_public_key(first.uri) == first.public_key
    assert manager.get_public_key(f"pkcs11:id={key_id}") == first.public_key
    with pytest.raises(InvalidKmsUri, match="'id' or 'object' is required"):
        manager.create_key("pkcs11:", KeyType.EC_P256)


def test_no_pin_is_an_authentication_error(softhsm_token: SoftHSMToken) -> None:
    """(A wrong PIN: tests/kms/test_contract.py.)"""
    uri = softhsm_token.kms_uri
    with pytest.raises(KmsAuthenticationFailed, match="needs a PIN"):
        open_key_manager(uri.split("?")[0])


def test_wrong_pin_is_refused_while_the_token_is_logged_in(manager: PKCS11KMS, softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(KmsAuthenticationFailed, match="wrong PIN"):
        open_key_manager(softhsm_token.kms_uri.replace(f"pin-value={softhsm_token.pin}", "pin-value=0000"))
    second = open_key_manager(softhsm_token.kms_uri.split("?")[0], password=softhsm_token.pin.encode())
    second.create_key("pkcs11:object=shared", KeyType.EC_P256)
    second.close()  # the last user logs the token out, not the first to leave
    assert isinstance(manager.get_public_key("pkcs11:object=shared"), ec.EllipticCurvePublicKey)


def test_pin_source_file(softhsm_token: SoftHSMToken, tmp_path: Path) -> None:
    (tmp_path / "pin").write_text(softhsm_token.pin + "\n")
    uri = f"pkcs11:module-path={SOFTHSM_MODULE};token={softhsm_token.label}?pin-source={tmp_path / 'pin'}"
    with open_key_manager(uri) as kms:
        kms.create_key("pkcs11:object=k", KeyType.EC_P256)


def test_unknown_token_key_and_module_are_clear(manager: PKCS11KMS, softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(KeyNotFound, match="no PKCS#11 token with label 'absent'"):
        open_key_manager(f"pkcs11:module-path={SOFTHSM_MODULE};token=absent?pin-value=1234")
    with pytest.raises(KeyNotFound, match=f"no key with id=0102 object=nope on PKCS#11 token '{softhsm_token.label}'"):
        manager.create_signer("pkcs11:id=0102;object=nope")
    with pytest.raises(KeyNotFound, match="object=nope"):
        manager.get_public_key("pkcs11:object=nope")
    with pytest.raises(KmsError, match="module-path /nonexistent/libp11.so does not exist"):
        open_key_manager("pkcs11:module-path=/nonexistent/libp11.so;token=x?pin-value=1")
    with pytest.raises(InvalidKmsUri, match="max-sessions"):
        open_key_manager(softhsm_token.kms_uri + "&max-sessions=0")


def test_certificate_store_round_trip(manager: PKCS11KMS, softhsm_token: SoftHSMToken) -> None:
    assert isinstance(manager, CertificateStore)
    manager.create_key("pkcs11:id=01;object=root", KeyType.EC_P256)
    certificate = self_signed_ca(manager.create_signer("pkcs11:id=01"))
    manager.store_certificate("pkcs11:id=01;object=root", certificate)
    assert manager.load_certificate("pkcs11:object=root") == certificate
    with pytest.raises(UnsupportedKeyOperation, match="refusing to overwrite"):
        manager.store_certificate("pkcs11:id=01;object=root", certificate)
    assert "Certificate Object; type = X.509 cert" in pkcs11_tool(softhsm_token, "--list-objects", "--type", "cert")
    with pytest.raises(KeyNotFound, match="no certificate"):
        manager.load_certificate("pkcs11:object=other")


def test_delete_key(manager: PKCS11KMS) -> None:
    assert isinstance(manager, KeyDeleter)
    manager.create_key("pkcs11:object=gone", KeyType.EC_P256)
    manager.delete_key("pkcs11:object=gone")
    with pytest.raises(KeyNotFound):
        manager.get_public_key("pkcs11:object=gone")
    with pytest.raises(KeyNotFound):
        manager.delete_key("pkcs11:object=gone")


def test_closed_manager_refuses_to_sign(softhsm_token: SoftHSMToken) -> None:
    kms = open_key_manager(softhsm_token.kms_uri)
    kms.create_key("pkcs11:object=k", KeyType.EC_P256)
    signer = kms.create_signer("pkcs11:object=k")
    kms.close()
    with pytest.raises(KmsError, match="closed"):
        signer.sign(b"data", ec.ECDSA(hashes.SHA256()))


def test_concurrent_signing_from_many_threads(manager: PKCS11KMS, softhsm_token: SoftHSMToken) -> None:
    """16 threads x 50 signatures on EC and RSA keys: SoftHSM2 runs without its own
    locking under python-pkcs11, so this crashes the process unless calls are serialised."""
    ec_key = manager.create_key("pkcs11:object=ec", KeyType.EC_P256).public_key
    rsa_key = manager.create_key("pkcs11:object=rsa", KeyType.RSA_2048).public_key
    signers = [manager.create_signer("pkcs11:object=ec"), manager.create_signer("pkcs11:object=rsa")]
    start = threading.Barrier(16)

    def work(worker: int) -> list[tuple[int, bytes, bytes]]:
        start.wait()
        out = []
        for i in range(50):
            data = f"{worker}-{i}".encode()
            signer = signers[(worker + i) % 2]
            if isinstance(signer, rsa.RSAPrivateKey):
                out.append((1, data, signer.sign(data, padding.PKCS1v15(), hashes.SHA256())))
            else:
                out.append((0, data, signer.sign(data, ec.ECDSA(hashes.SHA256()))))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [item for batch in pool.map(work, range(16)) for item in batch]
    assert len(results) == 800
    for kind, data, signature in results:  # the signer verifies too; check independently
        if kind:
            rsa_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            ec_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    assert len({signature for _, _, signature in results}) == 800
    # The token is intact: a fresh key works and an independent tool still reads it.
    manager.create_key("pkcs11:object=after", KeyType.EC_P256)
    assert "label:      after" in pkcs11_tool(softhsm_token, "--list-objects")


def test_cli_create_key_sign_verified_by_openssl(softhsm_token: SoftHSMToken, tmp_path: Path) -> None:
    kms = ["--kms", softhsm_token.kms_uri]
    key = "pkcs11:id=1001;object=cli-key"
    pem = subprocess.run([APPLIANCE, "kms", "create", key, *kms], capture_output=True, check=True).stdout
    assert subprocess.run([APPLIANCE, "kms", "key", key, *kms], capture_output=True, check=True).stdout == pem
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "data").write_bytes(b"sign me")
    out = subprocess.run([APPLIANCE, "kms", "sign", key, *kms, "--in", str(tmp_path / "data")], capture_output=True, check=True).stdout
    (tmp_path / "sig.der").write_bytes(base64.b64decode(out))
    subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig.der"), str(tmp_path / "data")],
        check=True, capture_output=True,
    )


def test_cli_full_key_uri_without_kms_and_errors(softhsm_token: SoftHSMToken) -> None:
    full = f"pkcs11:module-path={SOFTHSM_MODULE};token={softhsm_token.label};object=k?pin-value={softhsm_token.pin}"
    subprocess.run([APPLIANCE, "kms", "create", full, "--kty", "RSA", "--size", "2048"], capture_output=True, check=True)
    pem = subprocess.run([APPLIANCE, "kms", "key", full], capture_output=True, check=True).stdout
    assert isinstance(serialization.load_pem_public_key(pem), rsa.RSAPublicKey)
    wrong = subprocess.run([APPLIANCE, "kms", "key", full.replace(f"pin-value={softhsm_token.pin}", "pin-value=4321")],
                           capture_output=True, text=True)
    assert wrong.returncode == 1 and "refused the PIN" in wrong.stderr and "4321" not in wrong.stderr


def test_token_info_reports_the_serial_pkcs11_tool_sees(softhsm_token: SoftHSMToken) -> None:
    listing = subprocess.run(
        ["pkcs11-tool", "--module", softhsm_token.module, "--list-slots"], capture_output=True, text=True, check=True
    ).stdout
    with open_key_manager(softhsm_token.kms_uri) as manager:
        assert isinstance(manager, TokenInfo)
        info = manager.token_info()
    assert info["label"] == softhsm_token.label
    assert info["manufacturer"] == "SoftHSM project"
    block = listing[listing.index(f"token label        : {softhsm_token.label}"):]
    serial_line = next(line for line in block.splitlines() if line.strip().startswith("serial num"))
    assert info["serial"] == serial_line.split(":", 1)[1].strip() != ""


def test_rsa_decrypter_on_the_token_opens_what_openssl_encrypts(manager: PKCS11KMS, softhsm_token: SoftHSMToken,
                                                                 tmp_path: Path) -> None:
    """The Decrypter capability (SCEP): C_Decrypt with PKCS#1 v1.5 and OAEP on a key made
    for decryption by pkcs11-tool; a signing-only key and a bad ciphertext are refused.
    (SoftHSM2 2.6 takes OAEP with SHA-1 only.)"""
    from cryptography.hazmat.primitives.asymmetric import padding

    pkcs11_tool(softhsm_token, "--keypairgen", "--key-type", "rsa:2048", "--usage-decrypt", "--id", "d1",
                "--label", "scep-decrypter")
    decrypter = manager.create_decrypter("pkcs11:object=scep-decrypter")
    (tmp_path / "pub.pem").write_bytes(decrypter.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "plain").write_bytes(b"content key 0123")
    for options, pad in (((), padding.PKCS1v15()),
                         (("-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1",
                           "-pkeyopt", "rsa_mgf1_md:sha1"),
                          padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))):
        run_openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", tmp_path / "pub.pem", *options,
                    "-in", tmp_path / "plain", "-out", tmp_path / "ct")
        assert decrypter.decrypt((tmp_path / "ct").read_bytes(), pad) == b"content key 0123"
    with pytest.raises(ValueError):
        decrypter.decrypt(b"\x01" * 256, padding.PKCS1v15())
    manager.create_key("pkcs11:id=5151;object=signing-only", KeyType.RSA_2048)
    with pytest.raises(UnsupportedKeyOperation, match="may decrypt"):
        manager.create_decrypter("pkcs11:object=signing-only")
    with pytest.raises(UnsupportedKeyOperation, match="may not decrypt"):
        manager.create_signer("pkcs11:object=signing-only").decrypt(b"x", padding.PKCS1v15())  # type: ignore[union-attr]


def test_ml_dsa_is_refused_as_softhsm2_offers_no_mechanism(manager: PKCS11KMS, softhsm_token: SoftHSMToken) -> None:
    """PKCS#11 3.2 names ML-DSA (CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA); SoftHSM2 2.6 offers neither
    (asserted here), so pkcs11 ML-DSA keys cannot be tested and are refused, nothing created."""
    from pkcs11 import Mechanism

    from appliance.kms.pkcs11_module import load_module

    mechanisms = load_module(SOFTHSM_MODULE).lib.get_token(token_label=softhsm_token.label).slot.get_mechanisms()
    assert Mechanism.ECDSA in mechanisms
    assert not {Mechanism.ML_DSA_KEY_PAIR_GEN, Mechanism.ML_DSA} & set(mechanisms)
    with pytest.raises(UnsupportedKeyOperation, match="ML-DSA-65 keys are not supported"):
        manager.create_key("pkcs11:object=pq", KeyType.ML_DSA_65)
    with pytest.raises(KeyNotFound):
        manager.get_public_key("pkcs11:object=pq")


def test_signatures_from_event_loops_go_through_the_modules_one_lane(manager: PKCS11KMS) -> None:
    """Under run_on_loop a token's signature runs on its module's lane (never the loop's offload):
    32 concurrent issuances on one loop and 32 more on a second loop in another thread."""
    public = manager.create_key("pkcs11:object=laned", KeyType.EC_P256).public_key
    signer = manager.create_signer("pkcs11:object=laned")

    async def refuse(function, *args):  # noqa: ANN001, ANN202 - the offload must not be used
        raise AssertionError("a PKCS#11 call went to the thread pool")

    def issuance(index: int) -> tuple[bytes, bytes]:
        data = f"tbs {index}".encode()
        return data, signer.sign(data, ec.ECDSA(hashes.SHA256()))

    async def many(offset: int) -> list[tuple[bytes, bytes]]:
        return await asyncio.gather(*(run_on_loop(refuse, issuance, offset + i) for i in range(32)))

    with ThreadPoolExecutor(1) as other:
        second = other.submit(asyncio.run, many(100))
        signed = asyncio.run(many(0)) + second.result(timeout=60)
    for data, signature in signed:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    module_lane = signer.device.lane  # type: ignore[attr-defined]
    assert module_lane.name.startswith("pkcs11 ") and module_lane.name.endswith("libsofthsm2.so")
    assert len({signature for _, signature in signed}) == 64
