"""The SCEP provisioner (step-ca's ``SCEP`` type): a shared challenge, or SCEPCHALLENGE webhooks
(dynamic challenges, ``appliance.authority.webhooks.scep_challenge``), authorise a PKCS#10 request.

step-ca's fields: ``name``, ``forceCN``, ``challenge``, ``capabilities``, ``includeRoot``,
``excludeIntermediate``, ``minimumPublicKeyLength`` (default 2048), ``encryptionAlgorithmIdentifier``,
``decrypterCertificate``, ``decrypterKeyPEM``, ``decrypterKey`` (the key's KMS URI; our older
name ``decrypterKeyURI`` is still read, ``appliance.provisioner.renamed``), ``decrypterKeyPassword``,
``claims``, ``options`` and ``policy``. The decrypter settings are kept as given here;
``appliance.scep`` opens the key through the KMS.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from appliance.errors import BadRequest, Unauthorized
from appliance.jose import UnverifiedToken
from appliance.pki.paths import resolve_key
from appliance.provisioner.base import Provisioner, ProvisionerContext, RevokeAuthorization, SignOptions
from appliance.provisioner.checks import config_flag, config_string, config_strings
from appliance.provisioner.renamed import renamed_member
from appliance.provisioner.types import PROVISIONER_TYPES

#: What GetCACaps answers unless ``capabilities`` says otherwise.
DEFAULT_CAPABILITIES = ("AES", "DES3", "SHA-256", "SHA-512", "SHA-1", "POSTPKIOperation", "Renewal", "SCEPStandard")
DEFAULT_MINIMUM_KEY_LENGTH = 2048
#: step-ca's ``encryptionAlgorithmIdentifier`` values: the content encryption of CertReps.
#: 0 (single DES) and 3/4 (AES-GCM) are refused: DES is broken, GCM no SCEP client reads.
ENCRYPTION_ALGORITHMS = {1: "aes128_cbc", 2: "aes256_cbc"}
REFUSED_ENCRYPTION = {0: "single DES (0) is broken: use 1 (AES-128-CBC) or 2 (AES-256-CBC), or leave it out "
                         "to answer in the algorithm of the request",
                      3: "AES-GCM (3) is not offered: SCEP clients do not read it; use 1 or 2",
                      4: "AES-GCM (4) is not offered: SCEP clients do not read it; use 1 or 2"}


@dataclass(frozen=True)
class DecrypterSettings:
    """Where the RSA key that opens requests lives; all empty: the intermediate's key."""

    certificate: x509.Certificate | None
    key_uri: str
    key_pem: bytes
    key_password: bytes | None

    @property
    def configured(self) -> bool:
        return self.certificate is not None


def _base64_field(config: dict[str, Any], name: str, where: str) -> bytes:
    """step-ca's []byte fields: base64 in JSON (of a PEM document)."""
    value = config_string(config, name, where)
    try:
        return base64.b64decode(value, validate=True) if value else b""
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: '{name}' must be base64 (of a PEM document)") from None


def _decrypter(config: dict[str, Any], where: str, context: ProvisionerContext) -> DecrypterSettings:
    certificate_pem = _base64_field(config, "decrypterCertificate", where)
    key_pem = _base64_field(config, "decrypterKeyPEM", where)
    key_uri = renamed_member(config, "decrypterKeyURI", where)
    if key_uri is not None and not isinstance(key_uri, str):
        raise BadRequest(f"{where}: 'decrypterKey' must be a string (a KMS key URI)")
    password = config_string(config, "decrypterKeyPassword", where)
    certificate = None
    if certificate_pem:
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError:
            raise BadRequest(f"{where}: 'decrypterCertificate' is not a PEM certificate") from None
        if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
            raise BadRequest(f"{where}: 'decrypterCertificate' must certify an RSA key (only RSA decrypts)")
    if (key_uri or key_pem) and certificate is None:
        raise BadRequest(f"{where}: a decrypter key needs its 'decrypterCertificate'")
    if certificate is not None and not (key_uri or key_pem):
        raise BadRequest(f"{where}: 'decrypterCertificate' needs 'decrypterKey' (or 'decrypterKeyPEM')")
    return DecrypterSettings(certificate, resolve_key(context.base_dir, key_uri) if key_uri else "", key_pem,
                             password.encode() if password else None)


class SCEPProvisioner(Provisioner):
    """Requests are authorised by the challenge password of their CSR; names by the policies."""

    kind = PROVISIONER_TYPES["SCEP"]

    def __init__(self, config: dict[str, Any], context: ProvisionerContext) -> None:
        super().__init__(config, context)
        where = f"provisioner '{self.name}'"
        self.force_cn = config_flag(config, "forceCN", where)
        self._challenge = config_string(config, "challenge", where).encode()
        self.capabilities = config_strings(config, "capabilities", where) or DEFAULT_CAPABILITIES
        self.include_root = config_flag(config, "includeRoot", where)
        self.exclude_intermediate = config_flag(config, "excludeIntermediate", where)
        minimum = config.get("minimumPublicKeyLength")
        if minimum in (None, 0):
            minimum = DEFAULT_MINIMUM_KEY_LENGTH
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0 or minimum % 8:
            raise BadRequest(f"{where}: 'minimumPublicKeyLength' must be a number of bits, a multiple of 8")
        self.minimum_public_key_length = minimum
        self.response_encryption = self._encryption(config.get("encryptionAlgorithmIdentifier"), where)
        self.decrypter = _decrypter(config, where, context)
        if self._challenge and any(hook.kind == "SCEPCHALLENGE" for hook in self.webhooks):
            raise BadRequest(f"{where}: either a 'challenge' or SCEPCHALLENGE webhooks validate challenges, not both")
        if self.exclude_intermediate and not self.decrypter.configured:
            raise BadRequest(f"{where}: 'excludeIntermediate' needs a 'decrypterCertificate': clients encrypt "
                             "to a certificate GetCACert returns")

    @staticmethod
    def _encryption(value: Any, where: str) -> str | None:
        """The CertRep content encryption, or None: the request's own algorithm."""
        if value is None:
            return None
        if value in REFUSED_ENCRYPTION:
            raise BadRequest(f"{where}: encryptionAlgorithmIdentifier {REFUSED_ENCRYPTION[value]}")
        if value not in ENCRYPTION_ALGORITHMS or isinstance(value, bool):
            raise BadRequest(f"{where}: encryptionAlgorithmIdentifier must be 1 (AES-128-CBC) or 2 (AES-256-CBC)")
        return ENCRYPTION_ALGORITHMS[value]

    @property
    def credential_id(self) -> str:
        """Empty, as in step-ca's provisioner extension for SCEP."""
        return ""

    def check_challenge(self, challenge: bytes) -> None:
        """The request's challenge password against the static ``challenge`` (constant time);
        no configured challenge accepts any, as in step-ca."""
        if self._challenge and not hmac.compare_digest(challenge, self._challenge):
            raise Unauthorized("the challenge password is wrong")

    def check_public_key(self, public_key: CertificatePublicKeyTypes) -> None:
        """RSA keys of at least ``minimumPublicKeyLength`` bits (EC keys are not limited, as in step-ca)."""
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < self.minimum_public_key_length:
            raise BadRequest(f"the RSA key has {public_key.key_size} bits: provisioner '{self.name}' "
                             f"needs at least {self.minimum_public_key_length}")

    def authorize_sign(self, token: UnverifiedToken) -> SignOptions:
        raise Unauthorized(f"provisioner '{self.name}' is a SCEP provisioner: it does not accept tokens")

    def authorize_revoke(self, token: UnverifiedToken) -> RevokeAuthorization:
        raise Unauthorized(f"provisioner '{self.name}' is a SCEP provisioner: it does not accept tokens")

    def to_json(self) -> dict[str, Any]:
        """As listed by ``/provisioners``: without the challenge and the decrypter's key or password."""
        listed = super().to_json()
        for secret in ("challenge", "decrypterKeyPEM", "decrypterKeyPassword"):
            listed.pop(secret, None)
        return listed
