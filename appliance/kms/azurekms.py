"""azurekms: keys in Azure Key Vault (or Managed HSM), reached with azure-keyvault-keys.

Key URIs are step-ca's: ``azurekms:name=K;vault=V[;version=...][;hsm=true]``.
``hsm=true`` creates HSM-protected keys (``EC-HSM``/``RSA-HSM``, Premium vaults),
as in step-ca. Options:

* ``client-id``, ``client-secret`` (or ``client-secret-source=FILE``), ``tenant-id``:
  a service principal (``ClientSecretCredential``); otherwise
  ``DefaultAzureCredential`` (environment, workload or managed identity, Azure CLI),
  with ``client-id`` alone naming a user-assigned managed identity;
* ``environment``: ``AzurePublicCloud`` (default), ``AzureUSGovernmentCloud`` or
  ``AzureChinaCloud``: the vault DNS suffix and the login authority;
* ``vault-url``: the vault's URL itself, for a Managed HSM
  (``https://NAME.managedhsm.azure.net``), a private endpoint or a test server.
  With it the client does not insist that the bearer challenge names a
  ``*.vault.azure.net`` resource: the operator vouched for the URL.

``create_key`` refuses a name that exists unless ``new-version=true`` asks for a
new version of it; it returns the URI pinned to the created version. An RSA key
whose ``key_ops`` allow ``decrypt`` is a decrypter (``create_decrypter``): Key
Vault's ``decrypt`` with ``RSA1_5``, ``RSA-OAEP`` or ``RSA-OAEP-256``. TLS trust
for ``vault-url`` comes from the system store or ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, cast

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm
from azure.keyvault.keys.crypto import SignatureAlgorithm as AzureAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
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
from appliance.kms.interface import EVERY_DECRYPTION_PADDING, CreatedKey, DecryptionPadding, KeyManager
from appliance.kms.remote import RemoteDigestKey
from appliance.kms.signer import DeviceRSAKey, device_private_key
from appliance.kms.uri import KmsUri


@dataclass(frozen=True)
class Cloud:
    vault_suffix: str
    authority: str


CLOUDS: dict[str, Cloud] = {
    "azurepubliccloud": Cloud("vault.azure.net", "login.microsoftonline.com"),
    "azureusgovernmentcloud": Cloud("vault.usgovcloudapi.net", "login.microsoftonline.us"),
    "azurechinacloud": Cloud("vault.azure.cn", "login.chinacloudapi.cn"),
}
_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


def _describe(action: str, exc: AzureError) -> str:
    """``azurekms: <action>: <first line of the service's message> (<code>)``."""
    error = getattr(exc, "error", None)
    text = (getattr(error, "message", None) or exc.message or "").strip()
    code = getattr(error, "code", None)
    return f"azurekms: {action}: {text.splitlines()[0] if text else type(exc).__name__}" + (f" ({code})" if code else "")


@contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Turn azure-core exceptions into domain errors with a one-line message."""
    try:
        yield
    except ResourceNotFoundError as exc:
        raise KeyNotFound(_describe(action, exc)) from None
    except ClientAuthenticationError as exc:  # a 401, or a credential that could not get a token
        raise KmsAuthenticationFailed(_describe(action, exc)) from None
    except ResourceExistsError as exc:
        raise KmsError(_describe(action, exc), kind=ErrorKind.CONFLICT) from None
    except HttpResponseError as exc:
        if exc.status_code == 403:
            raise KmsAuthenticationFailed(_describe(action, exc)) from None
        if exc.status_code == 400:
            raise UnsupportedKeyOperation(_describe(action, exc)) from None
        raise KmsError(_describe(action, exc)) from None
    except ServiceRequestError as exc:
        raise KmsError(_describe(action, exc), kind=ErrorKind.UNAVAILABLE) from None
    except AzureError as exc:
        raise KmsError(_describe(action, exc)) from None


def _text(value: object) -> str:
    """An SDK enum's wire value (``JsonWebKeyType.EC`` -> ``EC``), or the string itself."""
    return str(getattr(value, "value", value) or "")


class _JwkMembers(Protocol):
    """The ``JsonWebKey`` members read here. The SDK sets them with ``setattr`` from a
    field list, so its class declares none of them."""

    kty: object
    crv: object
    x: bytes
    y: bytes
    e: bytes
    n: bytes


def public_key_from_jwk(key: KeyVaultKey) -> PublicKeyTypes:
    """The ``cryptography`` public key of a Key Vault JWK (EC P-256/384/521 or RSA)."""
    jwk = cast(_JwkMembers, key.key)  # see _JwkMembers: the SDK's type lacks the members
    kty, crv = _text(jwk.kty).removesuffix("-HSM"), _text(jwk.crv)
    if kty == "EC" and crv in _CURVES:
        numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), _CURVES[crv])
        return numbers.public_key()
    if kty == "RSA":
        return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()
    raise UnsupportedKeyOperation(f"azurekms: key {key.name} is {kty} {crv}: not an EC or RSA signing key")


class AzureKey(RemoteDigestKey):
    """One version of a Key Vault key; Key Vault returns ECDSA as raw r||s."""

    def __init__(self, client: CryptographyClient, name: str, public_key: PublicKeyTypes,
                 connect: Callable[[], CryptographyClient]) -> None:
        super().__init__(public_key, f"azurekms: key {name}")
        self.client = client
        self.name = name
        self._connect = connect

    def sign_with(self, algorithm: SignatureAlgorithm, digest: bytes) -> bytes:
        # No SDK retries with their back-off sleeps: a fault heals by one retry on a new client.
        with azure_errors(f"sign with {self.name}"):
            return bytes(self.client.sign(AzureAlgorithm(algorithm.name), digest, retry_total=0).signature)

    def decrypt_with(self, algorithm: str, ciphertext: bytes) -> bytes:
        try:
            with azure_errors(f"decrypt with {self.name}"):
                return bytes(self.client.decrypt(EncryptionAlgorithm(algorithm), ciphertext, retry_total=0).plaintext)
        except UnsupportedKeyOperation as exc:  # Key Vault's 400 to a ciphertext that does not open
            failed = exc
        raise ValueError(failed.message)  # outside the handler: no service error in its context to retry on

    def reconnect(self, fault: Fault) -> None:
        self.client = self._connect()


class AzureKMS(KeyManager):
    """Azure Key Vault keys; one ``KeyClient`` per vault URL and credential."""

    scheme = "azurekms"

    def __init__(self, uri: KmsUri, *, password: bytes | None = None) -> None:
        super().__init__(uri, password=password)
        self._clients: dict[tuple[str | None, ...], KeyClient] = {}
        self._credentials: list[Any] = []

    def _client(self, uri: KmsUri, *, fresh: bool = False) -> KeyClient:
        """The client for the URI's vault and credential; ``fresh``: a new one with a new
        credential (after the old one's tokens expired or were refused)."""
        explicit_url = uri.get("vault-url")
        cloud = _cloud(uri)
        settings = (explicit_url or _vault_url(uri, cloud), cloud.authority, uri.get("client-id"),
                    uri.get("tenant-id"), _client_secret(uri))
        if fresh and settings in self._clients:
            self._clients.pop(settings).close()
        if settings not in self._clients:
            credential = _credential(uri, cloud)
            self._credentials.append(credential)
            self._clients[settings] = KeyClient(
                settings[0], credential, verify_challenge_resource=explicit_url is None
            )
        return self._clients[settings]

    def _get(self, key: str | KmsUri) -> tuple[KeyClient, KeyVaultKey]:
        uri = self.key_uri(key)
        name = uri.require("name")
        client = self._client(uri)
        with azure_errors(f"get key {name}"):
            return client, client.get_key(name, uri.get("version"))

    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        return public_key_from_jwk(self._get(key)[1])

    def _remote_key(self, key: str | KmsUri, operation: str) -> AzureKey:
        """The key ``key`` names, if it is enabled and its ``key_ops`` allow ``operation``."""
        client, found = self._get(key)
        if operation not in [_text(op) for op in found.key_operations or []]:
            raise UnsupportedKeyOperation(
                f"azurekms: key {found.name} does not allow '{operation}' (key_ops: {found.key_operations})")
        if found.properties.enabled is False:
            raise UnsupportedKeyOperation(f"azurekms: key {found.name} is disabled")
        public_key = public_key_from_jwk(found)
        name, version, uri = found.name, found.properties.version, self.key_uri(key)

        def connect() -> CryptographyClient:
            return self._client(uri, fresh=True).get_cryptography_client(name, key_version=version)

        crypto = client.get_cryptography_client(name, key_version=version)
        return AzureKey(crypto, name, public_key, connect)

    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        azure = self._remote_key(key, "sign")
        return device_private_key(azure.public_key, azure)

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        return EVERY_DECRYPTION_PADDING

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        """An RSA key whose ``key_ops`` allow ``decrypt`` (SCEP's decrypter; it signs CertReps
        too when its ``key_ops`` also allow ``sign``)."""
        azure = self._remote_key(key, "decrypt")
        if not isinstance(azure.public_key, rsa.RSAPublicKey):
            raise UnsupportedKeyOperation(f"azurekms: key {azure.name} is not an RSA key: only RSA keys decrypt")
        return DeviceRSAKey(azure.public_key, azure)

    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        uri = self.key_uri(key)
        name = uri.require("name")
        if key_type.kty not in ("EC", "RSA"):
            raise UnsupportedKeyOperation(f"azurekms: cannot create {key_type.name} keys (use EC P-256/P-384 or RSA)")
        client = self._client(uri)
        if (uri.get("new-version") or "").lower() != "true":
            self._refuse_existing(client, name)
        options: dict[str, Any] = {"key_operations": ["sign", "verify"], "hardware_protected": _hsm(uri)}
        with azure_errors(f"create key {name}"):
            if key_type.kty == "EC":
                created = client.create_ec_key(name, curve=key_type.curve, **options)
            else:
                created = client.create_rsa_key(name, size=key_type.size, **options)
        parts = [f"name={name}"] + [f"{a}={uri.get(a)}" for a in ("vault", "hsm") if uri.get(a)]
        parts.append(f"version={created.properties.version}")
        return CreatedKey(uri=f"azurekms:{';'.join(parts)}", public_key=public_key_from_jwk(created))

    @staticmethod
    def _refuse_existing(client: KeyClient, name: str) -> None:
        try:
            with azure_errors(f"look up key {name}"):
                client.get_key(name)
        except KeyNotFound:
            return
        raise KmsError(
            f"azurekms: key {name} exists: refusing to replace it (new-version=true adds a version)",
            kind=ErrorKind.CONFLICT,
        )

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        for credential in self._credentials:
            credential.close()
        self._clients.clear()
        self._credentials.clear()


def _cloud(uri: KmsUri) -> Cloud:
    environment = (uri.get("environment") or "AzurePublicCloud").lower()
    if environment not in CLOUDS:
        raise InvalidKmsUri(f"invalid azurekms: URI: unknown environment (use {', '.join(c for c in CLOUDS)})")
    return CLOUDS[environment]


def _hsm(uri: KmsUri) -> bool:
    return (uri.get("hsm") or "").lower() == "true"


def _vault_url(uri: KmsUri, cloud: Cloud) -> str:
    vault = uri.get("vault")
    if vault is None:
        raise InvalidKmsUri("invalid azurekms: URI: 'vault' (or 'vault-url') is required")
    return f"https://{vault}.{cloud.vault_suffix}"


def _client_secret(uri: KmsUri) -> str | None:
    return uri.secret("client-secret") or uri.get("client-secret")


def _credential(uri: KmsUri, cloud: Cloud) -> TokenCredential:
    """A service principal's credential when its secret is given, else the default chain.
    Without ``environment`` the authority is azure-identity's (``AZURE_AUTHORITY_HOST``)."""
    client_id, tenant_id, secret = uri.get("client-id"), uri.get("tenant-id"), _client_secret(uri)
    options = {"authority": f"https://{cloud.authority}"} if uri.get("environment") else {}
    if secret is None:
        return DefaultAzureCredential(managed_identity_client_id=client_id, **options)
    if client_id is None or tenant_id is None:
        raise InvalidKmsUri("invalid azurekms: URI: client-secret needs client-id and tenant-id")
    return ClientSecretCredential(tenant_id, client_id, secret, **options)
