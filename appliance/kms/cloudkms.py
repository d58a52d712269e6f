"""cloudkms: asymmetric signing (and decryption) keys in Google Cloud KMS.

Key URIs name a crypto key version, as step-ca does:
``cloudkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N``
(or ``cloudkms:name=projects/...``). ``create_key`` takes the crypto key
(``.../cryptoKeys/K``) and returns the URI of its version 1.

Options, in the KMS URI or the key URI:

- ``credentials-file``: a service-account key (JSON);
  without it, Application Default Credentials.
- ``endpoint``: the API endpoint as ``host:port`` (default: Cloud KMS).
- ``insecure=true``: plaintext gRPC without credentials, for a test server.
  Allowed only with an ``endpoint`` on a loopback address and without a
  ``credentials-file``, so that no request and no token ever crosses a
  network in the clear.
- ``protection-level=HSM|SOFTWARE``: for ``create_key`` (default ``HSM``).
- ``algorithm``: for ``create_key``, the JOSE name of the signatures the key
  will make (``ES256``, ``RS256``, ``PS256``, ``RS512``, ...); the default
  follows the key type (RSA keys: ``RS256``).

Every response is checked as Google recommends: the resource name, and the
CRC32C of the public key, of the digest (``verified_digest_crc32c``) and of
the signature. A key version fixes its algorithm and padding; a signature it
cannot make is refused before any request is sent.

A version of an ``ASYMMETRIC_DECRYPT`` key (``RSA_DECRYPT_OAEP_<size>_<hash>``) is
a decrypter (``create_decrypter``): AsymmetricDecrypt, RSA-OAEP with the version's
hash for MGF1 too. Cloud KMS has no RSA PKCS#1 v1.5 decryption: that padding, or
another OAEP hash than the version's, is refused before any request is sent.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import google.auth
import google_crc32c
import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import (
    KeyManagementServiceGrpcTransport,
)
from google.oauth2 import service_account

from appliance.errors import ErrorKind
from appliance.kms.algorithms import RSA_SIZES, KeyType, SignatureAlgorithm
from appliance.kms.errors import (
    InvalidKmsUri,
    KeyNotFound,
    KmsAuthenticationFailed,
    KmsError,
    UnsupportedKeyOperation,
)
from appliance.kms.faults import Fault, with_one_retry
from appliance.kms.interface import CreatedKey, DecryptionPadding, KeyManager
from appliance.kms.signer import DeviceRSAKey, RsaPadding, device_private_key, oaep_hash
from appliance.kms.uri import KmsUri

_KEY = r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+"
_KEY_NAME = re.compile(rf"^{_KEY}$")
_VERSION_NAME = re.compile(rf"^{_KEY}/cryptoKeyVersions/[^/]+$")
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_GENERATION_TIMEOUT = 60.0  # seconds an HSM key may stay PENDING_GENERATION
SIGN_TIMEOUT_SECONDS = 10.0  # one AsymmetricSign call (HSM keys answer in well under a second)

Algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm
ProtectionLevel = kms_v1.ProtectionLevel


# These two are IntEnums, but their base (proto-plus's ``Enum``) ships no type
# information: mypy sees plain classes whose members are ``int`` and rejects
# ``Algorithm[name]`` (it reads an alias subscript as a type). ``__members__[name]``
# is the same lookup as ``Algorithm[name]``.
def _algorithm(name: str) -> Algorithm:
    return Algorithm.__members__[name]


def _protection_level(name: str) -> ProtectionLevel:
    return ProtectionLevel.__members__[name]


@dataclass(frozen=True)
class _Spec:
    """What a Cloud KMS signing algorithm fixes: the key pair and the signature."""

    key_type: KeyType
    signature: SignatureAlgorithm


def _specs() -> dict[Algorithm, _Spec]:
    table = {
        _algorithm("EC_SIGN_P256_SHA256"): _Spec(KeyType.EC_P256, SignatureAlgorithm("ES256")),
        _algorithm("EC_SIGN_P384_SHA384"): _Spec(KeyType.EC_P384, SignatureAlgorithm("ES384")),
        _algorithm("EC_SIGN_ED25519"): _Spec(KeyType.ED25519, SignatureAlgorithm("EdDSA")),
    }
    rsa_variants = [(size, "256") for size in RSA_SIZES] + [(4096, "512")]
    for size, bits in rsa_variants:
        for padding_name, family in (("PKCS1", "RS"), ("PSS", "PS")):
            table[_algorithm(f"RSA_SIGN_{padding_name}_{size}_SHA{bits}")] = _Spec(
                KeyType.parse("RSA", size=size), SignatureAlgorithm(f"{family}{bits}")
            )
    return table


SPECS = _specs()


def crc32c(data: bytes) -> int:
    return google_crc32c.value(data)


def _flag(uri: KmsUri, name: str) -> bool:
    value = (uri.get(name) or "false").lower()
    if value not in ("true", "false"):
        raise InvalidKmsUri(f"invalid cloudkms: URI: '{name}' must be true or false")
    return value == "true"


def _is_loopback(endpoint: str) -> bool:
    host = endpoint.rsplit(":", 1)[0].strip("[]") if ":" in endpoint else endpoint
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_credentials(path: str | None) -> Credentials:
    """A service-account key file's credentials, else Application Default Credentials."""
    if path is None:
        try:
            credentials, _ = google.auth.default(scopes=_SCOPES)
        except auth_exceptions.DefaultCredentialsError:
            raise KmsAuthenticationFailed(
                "cloudkms: cannot load Google credentials from Application Default Credentials"
            ) from None
        return credentials
    try:
        return service_account.Credentials.from_service_account_file(path, scopes=_SCOPES)
    except (OSError, ValueError):
        raise KmsAuthenticationFailed(
            f"cloudkms: cannot load a service-account key from credentials-file {path}"
        ) from None


@dataclass(frozen=True)
class _Connection:
    """The options that pick a client: endpoint, credentials file, insecure."""

    endpoint: str | None
    credentials_file: str | None
    insecure: bool

    @classmethod
    def of(cls, uri: KmsUri) -> _Connection:
        connection = cls(uri.get("endpoint"), uri.get("credentials-file"), _flag(uri, "insecure"))
        if connection.insecure and (connection.endpoint is None or not _is_loopback(connection.endpoint)):
            raise InvalidKmsUri("invalid cloudkms: URI: 'insecure=true' needs an 'endpoint' on a loopback address")
        if connection.insecure and connection.credentials_file is not None:
            raise InvalidKmsUri(
                "invalid cloudkms: URI: 'insecure=true' would send the credentials-file's tokens in the clear"
            )
        return connection

    def client(self) -> kms_v1.KeyManagementServiceClient:
        if self.insecure:
            assert self.endpoint is not None
            transport = KeyManagementServiceGrpcTransport(
                host=self.endpoint, credentials=AnonymousCredentials(),
                channel=grpc.insecure_channel(self.endpoint),
            )
            return kms_v1.KeyManagementServiceClient(transport=transport)
        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        return kms_v1.KeyManagementServiceClient(
            credentials=load_credentials(self.credentials_file), client_options=options
        )


def _algorithm_for(key_type: KeyType, requested: str | None) -> Algorithm:
    """The Cloud KMS algorithm for a key type and a JOSE signature name
    (default: the first in ``SPECS``, which lists PKCS#1 v1.5 with SHA-256 first)."""
    wanted = SignatureAlgorithm.parse(requested) if requested else None
    for algorithm, spec in SPECS.items():
        if spec.key_type is key_type and (wanted is None or spec.signature == wanted):
            return algorithm
    offered = sorted({spec.signature.name for spec in SPECS.values() if spec.key_type is key_type})
    if not offered:
        raise UnsupportedKeyOperation(f"cloudkms: cannot create {key_type.name} keys")
    raise UnsupportedKeyOperation(
        f"cloudkms: no {requested} key of type {key_type.name} (for it Cloud KMS offers {', '.join(offered)})"
    )


def _load_pem(pem: str, name: str) -> PublicKeyTypes:
    try:
        return serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise KmsError(f"cloudkms: the public key of {name} is not a PEM public key") from None


def _status(exc: api_exceptions.GoogleAPICallError) -> str:
    return exc.grpc_status_code.name if exc.grpc_status_code is not None else str(exc.code)


@contextmanager
def _translated(action: str, name: str) -> Iterator[None]:
    """Turn Google API errors into domain errors with a clean message."""
    try:
        yield
    except api_exceptions.NotFound:
        raise KeyNotFound(f"cloudkms: {name} not found") from None
    except (api_exceptions.PermissionDenied, api_exceptions.Unauthenticated) as exc:
        raise KmsAuthenticationFailed(f"cloudkms: {action} {name}: {_status(exc)}: {exc.message}") from None
    except api_exceptions.AlreadyExists:
        raise KmsError(f"cloudkms: {name} exists: refusing to replace a key", kind=ErrorKind.CONFLICT) from None
    except api_exceptions.GoogleAPICallError as exc:
        raise KmsError(f"cloudkms: {action} {name} failed: {_status(exc)}: {exc.message}") from None
    except api_exceptions.RetryError:
        raise KmsError(f"cloudkms: {action} {name} failed: no answer before the deadline",
                       kind=ErrorKind.UNAVAILABLE) from None
    except auth_exceptions.GoogleAuthError:
        raise KmsAuthenticationFailed(f"cloudkms: {action} {name}: cannot obtain an access token") from None


def _integrity_error(what: str, name: str) -> KmsError:
    return KmsError(f"cloudkms: {what} for {name} failed its integrity check (corrupted in transit); retry",
                    kind=ErrorKind.UNAVAILABLE)


_Response = TypeVar("_Response")


class _CloudKmsVersion:
    """One crypto key version and the client that reaches it."""

    def __init__(self, client: kms_v1.KeyManagementServiceClient, name: str, algorithm: Algorithm,
                 connect: Callable[[], kms_v1.KeyManagementServiceClient]) -> None:
        self._client = client
        self._connect = connect
        self._name = name
        self._algorithm = algorithm

    def _call(self, action: str, rpc: Callable[[kms_v1.KeyManagementServiceClient], _Response]) -> _Response:
        """One RPC, without the client library's minute of retries: a fault heals by one
        retry on a new client (new credentials), else it is unavailable."""
        def attempt() -> _Response:
            with _translated(action, self._name):
                return rpc(self._client)

        def reconnect(fault: Fault) -> None:
            self._client = self._connect()

        return with_one_retry(f"cloudkms: {self._name}", attempt, reconnect)


class _CloudKmsDecrypter(_CloudKmsVersion):
    """A version of an ASYMMETRIC_DECRYPT key: RSA-OAEP with its hash, by AsymmetricDecrypt."""

    def __init__(self, client: kms_v1.KeyManagementServiceClient, name: str, algorithm: Algorithm,
                 connect: Callable[[], kms_v1.KeyManagementServiceClient]) -> None:
        super().__init__(client, name, algorithm, connect)
        self._hash = algorithm.name.rsplit("_", 1)[-1].lower()  # RSA_DECRYPT_OAEP_2048_SHA256 -> sha256

    def decrypt(self, ciphertext: bytes, rsa_padding: padding.AsymmetricPadding) -> bytes:
        """The plaintext; ``ValueError`` when the ciphertext does not open (INVALID_ARGUMENT)."""
        if not isinstance(rsa_padding, padding.OAEP) or oaep_hash(rsa_padding).name != self._hash:
            raise UnsupportedKeyOperation(
                f"cloudkms: key version {self._name} is {self._algorithm.name}: it decrypts RSA-OAEP with "
                f"{self._hash.upper()} only (Cloud KMS has no PKCS#1 v1.5 decryption)")
        request = kms_v1.AsymmetricDecryptRequest(name=self._name, ciphertext=ciphertext,
                                                  ciphertext_crc32c=crc32c(ciphertext))

        def rpc(client: kms_v1.KeyManagementServiceClient) -> kms_v1.AsymmetricDecryptResponse | None:
            try:
                return client.asymmetric_decrypt(request=request, retry=None, timeout=SIGN_TIMEOUT_SECONDS)
            except api_exceptions.InvalidArgument:
                return None

        response = self._call("decrypting with", rpc)
        if response is None:  # raised outside the handler: no service error in its context to retry on
            raise ValueError(f"cloudkms: the ciphertext does not decrypt with {self._name}")
        if not response.verified_ciphertext_crc32c:
            raise _integrity_error("the ciphertext sent", self._name)
        if response.plaintext_crc32c != crc32c(response.plaintext):
            raise _integrity_error("the plaintext", self._name)
        return response.plaintext

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        raise UnsupportedKeyOperation(f"cloudkms: key version {self._name} is {self._algorithm.name}: it does not sign")

    def sign_message(self, message: bytes) -> bytes:
        return self.sign_digest(message, hashes.SHA256(), None)


class _CloudKmsKey(_CloudKmsVersion):
    """A version of an ASYMMETRIC_SIGN key: signs digests (or messages, Ed25519) with AsymmetricSign."""

    def __init__(self, client: kms_v1.KeyManagementServiceClient, name: str, algorithm: Algorithm,
                 connect: Callable[[], kms_v1.KeyManagementServiceClient]) -> None:
        super().__init__(client, name, algorithm, connect)
        self._spec = SPECS[algorithm]

    def _refuse(self, requested: str) -> UnsupportedKeyOperation:
        return UnsupportedKeyOperation(
            f"cloudkms: key version {self._name} is {self._algorithm.name}: "
            f"it makes {self._spec.signature.name} signatures, not {requested}"
        )

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm,
                    rsa_padding: RsaPadding | None) -> bytes:
        family = "ES" if rsa_padding is None else "PS" if rsa_padding is RsaPadding.PSS else "RS"
        requested = f"{family}{algorithm.name.removeprefix('sha')}"
        if requested != self._spec.signature.name:
            raise self._refuse(f"{family} with {algorithm.name.upper()}")
        request = kms_v1.AsymmetricSignRequest(
            name=self._name, digest=kms_v1.Digest(**{algorithm.name: digest}), digest_crc32c=crc32c(digest)
        )
        response = self._sign(request)
        if not response.verified_digest_crc32c:
            raise _integrity_error("the digest sent", self._name)
        return response.signature

    def sign_message(self, message: bytes) -> bytes:
        if self._spec.signature.name != "EdDSA":
            raise self._refuse("EdDSA")
        request = kms_v1.AsymmetricSignRequest(name=self._name, data=message, data_crc32c=crc32c(message))
        response = self._sign(request)
        if not response.verified_data_crc32c:
            raise _integrity_error("the data sent", self._name)
        return response.signature

    def _sign(self, request: kms_v1.AsymmetricSignRequest) -> kms_v1.AsymmetricSignResponse:
        response = self._call("signing with", lambda client: client.asymmetric_sign(
            request=request, retry=None, timeout=SIGN_TIMEOUT_SECONDS))
        if response.name != self._name or response.signature_crc32c != crc32c(response.signature):
            raise _integrity_error("the signature", self._name)
        return response


class CloudKMS(KeyManager):
    """Google Cloud KMS over gRPC; one client per endpoint and credentials."""

    scheme = "cloudkms"

    def __init__(self, uri: KmsUri, *, password: bytes | None = None) -> None:
        super().__init__(uri, password=password)
        self._clients: dict[_Connection, kms_v1.KeyManagementServiceClient] = {}
        self._lock = threading.Lock()

    def _client(self, uri: KmsUri, *, fresh: bool = False) -> kms_v1.KeyManagementServiceClient:
        """The client for the URI's endpoint and credentials; ``fresh``: a new one that
        loads the credentials again."""
        connection = _Connection.of(uri)
        with self._lock:
            if fresh and connection in self._clients:
                self._clients.pop(connection).transport.close()
            client = self._clients.get(connection)
            if client is None:
                client = self._clients[connection] = connection.client()
            return client

    def _name(self, uri: KmsUri, pattern: re.Pattern[str], what: str) -> str:
        name = uri.get("name") or uri.resource
        if not name or not pattern.match(name):
            raise InvalidKmsUri(f"invalid cloudkms: URI: expected a {what} name (projects/P/locations/L/"
                                f"keyRings/R/cryptoKeys/K{'/cryptoKeyVersions/N' if pattern is _VERSION_NAME else ''})")
        return name

    def _public_key(self, client: kms_v1.KeyManagementServiceClient, name: str, *,
                    wait: bool = False) -> kms_v1.PublicKey:
        """GetPublicKey, checked; with ``wait``, while the version is PENDING_GENERATION."""
        deadline = time.monotonic() + (_GENERATION_TIMEOUT if wait else 0.0)
        delay = 0.05
        with _translated("reading the public key of", name):
            while True:
                try:
                    response = client.get_public_key(request={"name": name})
                    break
                except api_exceptions.FailedPrecondition:
                    if time.monotonic() + delay > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
        if response.name != name or response.pem_crc32c != crc32c(response.pem.encode()):
            raise _integrity_error("the public key", name)
        return response

    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        uri = self.key_uri(key)
        name = self._name(uri, _VERSION_NAME, "crypto key version")
        return _load_pem(self._public_key(self._client(uri), name).pem, name)

    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        uri = self.key_uri(key)
        name = self._name(uri, _KEY_NAME, "crypto key")
        algorithm = _algorithm_for(key_type, uri.get("algorithm"))
        level = (uri.get("protection-level") or "HSM").upper()
        if level not in ("HSM", "SOFTWARE"):
            raise InvalidKmsUri("invalid cloudkms: URI: 'protection-level' must be HSM or SOFTWARE")
        parent, _, key_id = name.rpartition("/cryptoKeys/")
        crypto_key = kms_v1.CryptoKey(
            purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ASYMMETRIC_SIGN,
            version_template=kms_v1.CryptoKeyVersionTemplate(
                algorithm=algorithm, protection_level=_protection_level(level)
            ),
        )
        client = self._client(uri)
        with _translated("creating", name):
            client.create_crypto_key(request={"parent": parent, "crypto_key_id": key_id, "crypto_key": crypto_key})
        version = f"{name}/cryptoKeyVersions/1"
        public_key = _load_pem(self._public_key(client, version, wait=True).pem, version)
        return CreatedKey(uri=f"cloudkms:{version}", public_key=public_key)

    def _version(self, key: str | KmsUri) -> tuple[str, Algorithm, PublicKeyTypes, KmsUri]:
        """The version ``key`` names: its name, algorithm and public key, and the merged URI."""
        uri = self.key_uri(key)
        name = self._name(uri, _VERSION_NAME, "crypto key version")
        response = self._public_key(self._client(uri), name)
        return name, Algorithm(response.algorithm), _load_pem(response.pem, name), uri

    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        name, algorithm, public_key, uri = self._version(key)
        spec = SPECS.get(algorithm)
        if spec is None:
            raise UnsupportedKeyOperation(f"cloudkms: key version {name} is {algorithm.name}: not a supported "
                                          "signing algorithm")
        if KeyType.of(public_key) is not spec.key_type:
            raise KmsError(f"cloudkms: the public key of {name} does not fit its algorithm {algorithm.name}")
        connect = functools.partial(self._client, uri, fresh=True)
        return device_private_key(public_key, _CloudKmsKey(self._client(uri), name, algorithm, connect))

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        """Cloud KMS decrypts RSA with RSA_DECRYPT_OAEP_* only: no PKCS#1 v1.5."""
        return frozenset({DecryptionPadding.OAEP})

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        """A version of an ASYMMETRIC_DECRYPT key (RSA_DECRYPT_OAEP_*), as SCEP's decrypter."""
        name, algorithm, public_key, uri = self._version(key)
        if not algorithm.name.startswith("RSA_DECRYPT_OAEP_"):
            raise UnsupportedKeyOperation(f"cloudkms: key version {name} is {algorithm.name}: decrypting needs "
                                          "an ASYMMETRIC_DECRYPT key (RSA_DECRYPT_OAEP_*)")
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise KmsError(f"cloudkms: the public key of {name} does not fit its algorithm {algorithm.name}")
        connect = functools.partial(self._client, uri, fresh=True)
        return DeviceRSAKey(public_key, _CloudKmsDecrypter(self._client(uri), name, algorithm, connect))

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.transport.close()
            self._clients.clear()
