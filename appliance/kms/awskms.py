"""awskms: keys in AWS KMS, reached with boto3.

Key URIs are step-ca's: ``awskms:key-id=<uuid|arn|alias/name>;region=eu-west-1``
with the options ``profile`` (a named profile), ``credentials-file`` (instead of
``~/.aws/credentials``) and ``endpoint`` (a VPC endpoint or a local emulator).
``create_key`` takes an optional ``alias=`` (or ``name=``, or ``key-id=alias/...``)
and returns ``awskms:key-id=<uuid>;region=...``. Signing sends the host-made
digest with ``MessageType=DIGEST``; the key's own ``SigningAlgorithms`` are
checked before every call. An RSA key with KeyUsage ``ENCRYPT_DECRYPT`` is a
decrypter (``create_decrypter``): ``Decrypt`` with ``RSAES_OAEP_SHA_1`` or
``RSAES_OAEP_SHA_256``; AWS KMS has no RSA PKCS#1 v1.5 decryption, so that
padding is refused before any call.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager, suppress
from typing import Any, Callable, Collection, Iterator

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from appliance.errors import ErrorKind
from appliance.kms.algorithms import KeyType, SignatureAlgorithm
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    UnsupportedKeyOperation,
)
from appliance.kms.faults import Fault
from appliance.kms.interface import CreatedKey, DecryptionPadding, KeyManager
from appliance.kms.remote import RemoteDigestKey
from appliance.kms.signer import DeviceRSAKey, device_private_key
from appliance.kms.uri import KmsUri

KEY_SPECS: dict[KeyType, str] = {
    KeyType.EC_P256: "ECC_NIST_P256",
    KeyType.EC_P384: "ECC_NIST_P384",
    KeyType.RSA_2048: "RSA_2048",
    KeyType.RSA_3072: "RSA_3072",
    KeyType.RSA_4096: "RSA_4096",
}
_RSA_SPECS = frozenset(spec for key_type, spec in KEY_SPECS.items() if key_type.kty == "RSA")
_FAMILIES = {"ES": "ECDSA_SHA_", "RS": "RSASSA_PKCS1_V1_5_SHA_", "PS": "RSASSA_PSS_SHA_"}
DELETION_WINDOW_DAYS = 7  # the shortest AWS allows

_AUTH_ERRORS = frozenset({
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "IncompleteSignature", "InvalidClientTokenId",
    "MissingAuthenticationToken", "SignatureDoesNotMatch",
})
_KEY_ERRORS = frozenset({"UnsupportedOperationException", "InvalidKeyUsageException"})
_ENCRYPTION = {"RSA-OAEP": "RSAES_OAEP_SHA_1", "RSA-OAEP-256": "RSAES_OAEP_SHA_256"}  # JWA -> AWS


def aws_algorithm(algorithm: SignatureAlgorithm) -> str:
    """ES256 -> ECDSA_SHA_256, RS384 -> RSASSA_PKCS1_V1_5_SHA_384, PS512 -> RSASSA_PSS_SHA_512."""
    return _FAMILIES[algorithm.family] + algorithm.name[2:]


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions into domain errors with a clean message."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = f"awskms: {action}: {error.get('Message') or code} ({code})"
        if code == "NotFoundException":
            raise KeyNotFound(message) from None
        if code == "InvalidCiphertextException":  # as ``cryptography`` says it
            raise ValueError(message) from None
        if code in _AUTH_ERRORS:
            raise KmsAuthenticationFailed(message) from None
        if code in _KEY_ERRORS:
            raise UnsupportedKeyOperation(message) from None
        raise KmsError(message) from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError,
            botocore.exceptions.ProfileNotFound) as exc:
        raise KmsAuthenticationFailed(f"awskms: {action}: {exc}") from None
    except botocore.exceptions.NoRegionError:
        raise InvalidKmsUri("invalid awskms: URI: no region (give region=, or a profile with one)") from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError) as exc:
        raise KmsError(f"awskms: {action}: {exc}", kind=ErrorKind.UNAVAILABLE) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise KmsError(f"awskms: {action}: {exc}") from None


class AwsKey(RemoteDigestKey):
    """One asymmetric KMS key, with the algorithms GetPublicKey says it allows (signing
    or encryption algorithms: an AWS key does one or the other)."""

    def __init__(self, client: Any, key_id: str, public_key: PublicKeyTypes, algorithms: frozenset[str],
                 connect: Callable[[], Any]) -> None:
        super().__init__(public_key, f"awskms: key {key_id}")
        self.client = client
        self.key_id = key_id
        self.algorithms = algorithms
        self._connect = connect

    def reconnect(self, fault: Fault) -> None:
        self.client = self._connect()

    def sign_with(self, algorithm: SignatureAlgorithm, digest: bytes) -> bytes:
        name = aws_algorithm(algorithm)
        if name not in self.algorithms:
            raise UnsupportedKeyOperation(
                f"awskms: key {self.key_id} does not allow {name} (it allows {', '.join(sorted(self.algorithms))})"
            )
        with aws_errors(f"sign with {self.key_id}"):
            response = self.client.sign(KeyId=self.key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=name)
        return bytes(response["Signature"])

    def decrypt_with(self, algorithm: str, ciphertext: bytes) -> bytes:
        name = _ENCRYPTION.get(algorithm, algorithm)
        if name not in self.algorithms:
            allowed = ", ".join(sorted(self.algorithms)) or "none"
            raise UnsupportedKeyOperation(f"awskms: key {self.key_id} does not decrypt with {name} (it allows "
                                          f"{allowed}; AWS KMS has no RSA PKCS#1 v1.5 decryption)")
        with aws_errors(f"decrypt with {self.key_id}"):
            response = self.client.decrypt(KeyId=self.key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm=name)
        return bytes(response["Plaintext"])


class AWSKMS(KeyManager):
    """AWS KMS asymmetric SIGN_VERIFY keys; one boto3 client per region/profile/endpoint."""

    scheme = "awskms"

    def __init__(self, uri: KmsUri, *, password: bytes | None = None) -> None:
        super().__init__(uri, password=password)
        self._clients: dict[tuple[str | None, ...], Any] = {}

    def _client(self, uri: KmsUri, *, fresh: bool = False) -> Any:
        """The client for the URI's region and credentials; ``fresh``: a new one, whose
        session reads the credentials again (after they expired)."""
        settings = tuple(uri.get(name) for name in ("region", "profile", "credentials-file", "endpoint"))
        if fresh and settings in self._clients:
            self._clients.pop(settings).close()
        if settings not in self._clients:
            region, profile, credentials_file, endpoint = settings
            core = botocore.session.Session()
            if credentials_file:
                core.set_config_variable("credentials_file", credentials_file)
            with aws_errors("open a session"):
                session = boto3.session.Session(botocore_session=core, profile_name=profile, region_name=region)
                config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=30)
                self._clients[settings] = session.client("kms", endpoint_url=endpoint, config=config)
        return self._clients[settings]

    def _key_id(self, uri: KmsUri) -> str:
        key_id = uri.get("key-id") or uri.resource
        if not key_id:
            raise InvalidKmsUri("invalid awskms: URI: 'key-id' is required")
        return key_id

    def _public_key(self, uri: KmsUri) -> tuple[Any, str, dict[str, Any]]:
        client, key_id = self._client(uri), self._key_id(uri)
        with aws_errors(f"get the public key of {key_id}"):
            return client, key_id, client.get_public_key(KeyId=key_id)

    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        return serialization.load_der_public_key(self._public_key(self.key_uri(key))[2]["PublicKey"])

    def _remote_key(self, key: str | KmsUri, usage: str, specs: Collection[str], needs: str) -> AwsKey:
        """The key ``key`` names, if its KeyUsage is ``usage`` and its KeySpec one of ``specs``."""
        uri = self.key_uri(key)
        client, key_id, response = self._public_key(uri)
        spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
        if response.get("KeyUsage") != usage or spec not in specs:
            raise UnsupportedKeyOperation(f"awskms: key {key_id} is {spec}/{response.get('KeyUsage')}: {needs}")
        public_key = serialization.load_der_public_key(response["PublicKey"])
        field = "SigningAlgorithms" if usage == "SIGN_VERIFY" else "EncryptionAlgorithms"
        algorithms = frozenset(response.get(field) or ())
        connect = functools.partial(self._client, uri, fresh=True)
        return AwsKey(client, response["KeyId"], public_key, algorithms, connect)

    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        aws = self._remote_key(key, "SIGN_VERIFY", KEY_SPECS.values(),
                               "signing needs an EC P-256/P-384 or RSA key with KeyUsage SIGN_VERIFY")
        return device_private_key(aws.public_key, aws)

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        """AWS KMS decrypts RSA with RSAES_OAEP_SHA_1/256 only: no PKCS#1 v1.5."""
        return frozenset({DecryptionPadding.OAEP})

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        """An RSA key with KeyUsage ENCRYPT_DECRYPT, decrypting with RSAES_OAEP_SHA_1/256 (SCEP's decrypter)."""
        aws = self._remote_key(key, "ENCRYPT_DECRYPT", _RSA_SPECS,
                               "decrypting needs an RSA key with KeyUsage ENCRYPT_DECRYPT")
        if not isinstance(aws.public_key, rsa.RSAPublicKey):
            raise KmsError(f"awskms: the public key of {aws.key_id} is not the RSA key its KeySpec says")
        return DeviceRSAKey(aws.public_key, aws)

    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        uri = self.key_uri(key)
        spec = KEY_SPECS.get(key_type)
        if spec is None:
            raise UnsupportedKeyOperation(f"awskms: cannot create {key_type.name} keys (use EC P-256/P-384 or RSA)")
        alias = _alias(uri)
        client = self._client(uri)
        if alias is not None:
            self._refuse_existing(client, alias)
        with aws_errors("create a key"):
            created = client.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description=alias or "appliance key")
        key_id = created["KeyMetadata"]["KeyId"]
        if alias is not None:
            try:
                with aws_errors(f"create {alias}"):
                    client.create_alias(AliasName=alias, TargetKeyId=key_id)
            except KmsError:
                with suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)
                raise
        with aws_errors(f"get the public key of {key_id}"):
            der = client.get_public_key(KeyId=key_id)["PublicKey"]
        return CreatedKey(
            uri=f"awskms:key-id={key_id};region={client.meta.region_name}",
            public_key=serialization.load_der_public_key(der),
        )

    @staticmethod
    def _refuse_existing(client: Any, alias: str) -> None:
        try:
            with aws_errors(f"look up {alias}"):
                existing = client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        except KeyNotFound:
            return
        raise KmsError(f"awskms: {alias} already names key {existing}: refusing to replace it", kind=ErrorKind.CONFLICT)

    def delete_key(self, key: str | KmsUri) -> None:
        """Schedule the key's deletion after the shortest window AWS allows (7 days)."""
        uri = self.key_uri(key)
        client, key_id = self._client(uri), self._key_id(uri)
        with aws_errors(f"delete {key_id}"):
            resolved = client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"]
            client.schedule_key_deletion(KeyId=resolved, PendingWindowInDays=DELETION_WINDOW_DAYS)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _alias(uri: KmsUri) -> str | None:
    """``alias/<name>`` from ``alias=``, ``name=`` or ``key-id=alias/...``; None for no alias."""
    key_id = uri.get("key-id")
    if key_id is not None and not key_id.startswith("alias/"):
        raise InvalidKmsUri("invalid awskms: URI: AWS assigns the key-id of a new key; name it with alias=")
    name = uri.get("alias") or uri.get("name") or key_id
    if name is None:
        return None
    return name if name.startswith("alias/") else f"alias/{name}"
