"""Backends registered by URI scheme, imported only when first used."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from appliance.kms.errors import InvalidKmsUri, MissingDependency
from appliance.kms.interface import KeyManager
from appliance.kms.uri import KmsUri, parse_uri


@dataclass(frozen=True)
class Backend:
    module: str
    cls: str
    extra: str | None  # the pip extra that brings its SDK
    sdk_modules: tuple[str, ...]  # top-level modules whose absence means "install the extra"


BACKENDS: dict[str, Backend] = {
    "softkms": Backend("appliance.kms.softkms", "SoftKMS", None, ()),
    "pkcs11": Backend("appliance.kms.pkcs11", "PKCS11KMS", "pkcs11", ("pkcs11",)),
    "awskms": Backend("appliance.kms.awskms", "AWSKMS", "aws", ("boto3", "botocore")),
    "cloudkms": Backend("appliance.kms.cloudkms", "CloudKMS", "gcp", ("google", "grpc", "google_crc32c")),
    "azurekms": Backend("appliance.kms.azurekms", "AzureKMS", "azure", ("azure",)),
    "yubikey": Backend("appliance.kms.yubikey", "YubiKeyKMS", "yubikey", ("yubikit", "ykman", "smartcard")),
}


def backend_class(scheme: str) -> type[KeyManager]:
    """The KeyManager class for a scheme, with a clear error if its SDK is missing."""
    backend = BACKENDS.get(scheme)
    if backend is None:
        raise InvalidKmsUri(f"unknown KMS scheme '{scheme}:' (known: {', '.join(sorted(BACKENDS))})")
    try:
        module = importlib.import_module(backend.module)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in backend.sdk_modules:
            raise MissingDependency(
                f"the {scheme}: backend needs its SDK: pip install 'appliance[{backend.extra}]'"
            ) from None
        raise
    return getattr(module, backend.cls)


def open_key_manager(uri: str | KmsUri | None = None, *, password: bytes | None = None) -> KeyManager:
    """Open the backend named by a KMS URI (softkms when none is given).

    ``password`` protects softkms keys on disk; device backends take their PIN
    or credentials from the URI (``pin-value``/``pin-source``, ...) first.
    """
    parsed = uri if isinstance(uri, KmsUri) else parse_uri(uri or "softkms:", default_scheme="softkms")
    return backend_class(parsed.scheme)(parsed, password=password)
