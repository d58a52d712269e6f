"""The keys of a SCEP provisioner: the RSA decrypter that opens requests (through a KMS
URI; the intermediate's key when none is configured) and the CA key that signs CertReps."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.errors import BadRequest
from appliance.kms import Decrypter, DecryptionPadding, KeyManager, open_key_manager, parse_uri
from appliance.kms.softkms import load_private_key
from appliance.provisioner.scep import SCEPProvisioner


@dataclass(frozen=True)
class CaSigner:
    """The CA key (through its KMS) and certificate that sign CertReps; ``key_uri`` and
    ``key_manager`` open the intermediate's key as the decrypter when it is RSA."""

    certificate: x509.Certificate
    signer: PrivateKeyTypes
    key_uri: str
    key_manager: KeyManager | None


@dataclass
class ScepKeys:
    """What one SCEP provisioner decrypts with; ``close`` releases a KMS opened for it."""

    decrypter_certificate: x509.Certificate
    decrypter: rsa.RSAPrivateKey
    owned: list[KeyManager] = field(default_factory=list)

    def close(self) -> None:
        for manager in self.owned:
            manager.close()


def _decrypter(manager: KeyManager | None, key: str, where: str, setting: str) -> rsa.RSAPrivateKey:
    """``key`` opened as the decrypter; refused, naming ``setting``, unless its KMS opens PKCS#1 v1.5
    (what SCEP clients encrypt the content key with), asked of the backend without a call to the service."""
    if not isinstance(manager, Decrypter):
        scheme = manager.scheme if manager is not None else "this"
        raise BadRequest(f"{where}: {setting}: the {scheme} KMS cannot decrypt: SCEP needs a decrypter key")
    if DecryptionPadding.PKCS1V15 not in manager.decryption_paddings():
        offered = " and ".join(sorted(p.value for p in manager.decryption_paddings()))
        raise BadRequest(f"{where}: {setting}: {manager.scheme} keys decrypt only {offered}, and their decryption "
                         "keys cannot sign CertReps, but SCEP clients encrypt the content key with RSA PKCS#1 v1.5: "
                         "use a decrypter key in softkms, pkcs11, yubikey or azurekms")
    return manager.create_decrypter(key)


def open_scep_keys(provisioner: SCEPProvisioner, ca: CaSigner) -> ScepKeys:
    """Open the provisioner's decrypter; ``BadRequest`` (the CA refuses to start) naming what is missing."""
    where = f"SCEP provisioner '{provisioner.name}'"
    settings = provisioner.decrypter
    owned: list[KeyManager] = []
    if settings.certificate is None:
        if not isinstance(ca.certificate.public_key(), rsa.RSAPublicKey):
            raise BadRequest(f"{where}: SCEP needs an RSA key to decrypt requests and the intermediate's key is not "
                             "RSA: set decrypterCertificate and decrypterKey (an RSA key in a KMS)")
        certificate = ca.certificate
        decrypter = _decrypter(ca.key_manager, ca.key_uri, where, "key (the CA's key decrypts without decrypterCertificate)")
    elif settings.key_uri:
        certificate, manager = settings.certificate, ca.key_manager
        scheme = parse_uri(settings.key_uri, default_scheme="softkms").scheme
        if manager is None or manager.scheme != scheme or settings.key_password is not None:
            manager = open_key_manager(settings.key_uri, password=settings.key_password)
            owned.append(manager)
        try:
            decrypter = _decrypter(manager, settings.key_uri, where, "decrypterKey")
        except BaseException:
            for opened in owned:
                opened.close()
            raise
    else:
        certificate = settings.certificate
        key = load_private_key(settings.key_pem, settings.key_password)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise BadRequest(f"{where}: decrypterKeyPEM must be an RSA key")
        decrypter = key
    if decrypter.public_key() != certificate.public_key():
        for opened in owned:
            opened.close()
        raise BadRequest(f"{where}: the decrypter key does not match its certificate")
    return ScepKeys(certificate, decrypter, owned)
