"""Open the HSM a ceremony names and check, read-only, that its key is as expected."""

from __future__ import annotations

from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from appliance.ceremony.build import signature_hash
from appliance.ceremony.errors import InvalidCeremony
from appliance.ceremony.lint import spki
from appliance.ceremony.model import AnyCeremony, CrlCeremony, CrossCsrCeremony, IntermediateCeremony, KeyCeremony
from appliance.kms import KeyManager, KmsUri, TokenInfo, open_key_manager, parse_uri
from appliance.kms.errors import KeyNotFound

# Backends whose secret may be typed at a prompt, and what it is called.
_PROMPTED_SECRETS = {"pkcs11": "pin", "yubikey": "pin", "softkms": "password"}

PinPrompt = Callable[[str], str]


def key_uri(kms: str, key: str) -> KmsUri:
    """The key URI laid over the backend URI, as the key manager will see it."""
    backend = parse_uri(kms)
    return backend.merged(parse_uri(key, default_scheme=backend.scheme))


def open_hsm(kms: str, key: str, prompt: PinPrompt | None) -> KeyManager:
    """Open the backend; ask ``prompt`` for the PIN unless a ``*-source`` file gives it."""
    merged = key_uri(kms, key)
    secret = _PROMPTED_SECRETS.get(merged.scheme)
    password = None
    if secret is not None and merged.get(f"{secret}-source") is None and prompt is not None:
        password = prompt(f"{'PIN' if secret == 'pin' else 'Password'} for {merged}").encode()
    return open_key_manager(kms, password=password)


def describe_token(manager: KeyManager, kms: str, key: str) -> dict[str, str]:
    """What the transcript says about the token: the backend's own description when it
    has one (serial number), else the token label and slot named by the URI."""
    if isinstance(manager, TokenInfo):
        return dict(manager.token_info())
    merged = key_uri(kms, key)
    named = {name: merged.get(name) for name in ("token", "serial", "slot-id", "module-path", "path")}
    return {name: value for name, value in named.items() if value is not None}


def _existing_key(manager: KeyManager, key: str) -> PublicKeyTypes:
    try:
        public_key = manager.get_public_key(key)
        signature_hash(public_key)  # rejects key types a ceremony does not use
    except (KeyNotFound, InvalidCeremony) as exc:
        raise InvalidCeremony(f"hsm.key: {exc.message}") from None
    return public_key


def _same_key(public_key: PublicKeyTypes, cert: x509.Certificate, where: str) -> None:
    if spki(public_key) != spki(cert.public_key()):
        raise InvalidCeremony(f"hsm.key: the key on the HSM is not the public key of {where}")


def preflight(ceremony: AnyCeremony, manager: KeyManager) -> PublicKeyTypes | None:
    """Read-only checks on the HSM: a new key's name is free; an existing key exists,
    has a usable type, and is the issuer's (or the certificate's) key. Returns that key."""
    try:
        return _preflight(ceremony, manager)
    except InvalidCeremony as exc:
        raise InvalidCeremony(f"{ceremony.source}: {exc.message}") from None


def _preflight(ceremony: AnyCeremony, manager: KeyManager) -> PublicKeyTypes | None:
    if isinstance(ceremony, KeyCeremony):
        try:
            manager.get_public_key(ceremony.key)
        except KeyNotFound:
            return None
        raise InvalidCeremony(f"hsm.key: {parse_uri(ceremony.key)} already exists: refusing to replace it")
    public_key = _existing_key(manager, ceremony.key)
    if isinstance(ceremony, (IntermediateCeremony, CrlCeremony)):
        _same_key(public_key, ceremony.issuer, f"inputs.issuer-certificate ({ceremony.issuer_path})")
    if isinstance(ceremony, CrossCsrCeremony):
        _same_key(public_key, ceremony.certificate, "inputs.certificate")
    return public_key
