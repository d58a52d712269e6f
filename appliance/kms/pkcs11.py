"""pkcs11: keys on an HSM or token through its PKCS#11 module (SoftHSM2, YubiHSM 2, ...).

URIs follow step-ca (RFC 7512 style)::

    pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=ca;id=7331;object=int-key?pin-source=/run/pin

The token is chosen by ``token`` (label), ``serial`` and/or ``slot-id``; a key
by ``id`` (hex, or percent-encoded bytes) and/or ``object`` (label). The PIN
comes from ``pin-value``/``pin-source``, else from the key manager's password.
``max-sessions`` is accepted for step-ca compatibility and must be >= 1; this
backend uses one session per token because calls into a module are serialised
(see :mod:`appliance.kms.pkcs11_module`), which is within any such limit.

Digests are made on the host and signed with the raw mechanisms every module
has (CKM_ECDSA, CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS); Ed25519
signs the message with CKM_EDDSA. RSA keys with CKA_DECRYPT decrypt on the token
(C_Decrypt with CKM_RSA_PKCS or CKM_RSA_PKCS_OAEP): SCEP's decrypter.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable, Mapping
from urllib.parse import quote

import pkcs11
import pkcs11.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from pkcs11 import Attribute, Mechanism, ObjectClass
from pkcs11.util.x509 import decode_x509_certificate

from appliance.kms.algorithms import KeyType
from appliance.kms.errors import InvalidKmsUri, KeyNotFound, KmsError, UnsupportedKeyOperation
from appliance.kms.faults import Fault, KmsUnavailable, with_one_retry
from appliance.kms.interface import EVERY_DECRYPTION_PADDING, CreatedKey, DecryptionPadding, KeyManager
from appliance.kms.pkcs11_keys import decryption_mechanism, keypair_templates, public_key_from_object, signing_mechanism
from appliance.kms.pkcs11_module import TokenSelector, TokenSession, load_module, token_serial
from appliance.kms.signer import DeviceRSAKey, RsaPadding, device_private_key
from appliance.kms.uri import KmsUri
from appliance.pki.lane import DeviceLane

_TOKEN_ATTRIBUTES = ("module-path", "token", "serial", "slot-id")
_ID_BYTES = 2
#: What C_Decrypt answers to a ciphertext that does not open; SoftHSM2 says CKR_GENERAL_ERROR
#: (a device that is gone answers with session or token errors, which stay faults).
_UNDECRYPTABLE = (pkcs11.exceptions.EncryptedDataInvalid, pkcs11.exceptions.EncryptedDataLenRange,
                  pkcs11.exceptions.GeneralError)  # a YubiHSM 2 object id is 16 bits; any token takes it


class Pkcs11DeviceKey:
    """One private key on a token; each signature is one locked device call.

    A fault (lost session, logged-out or removed token) heals once within the
    call: the token session is re-opened and the key object found again."""

    # ``key``: a private key object with CKA_SIGN, to which python-pkcs11 adds SignMixin at run time.
    def __init__(self, session: TokenSession, key: pkcs11.SignMixin, public_key: PublicKeyTypes,
                 attributes: dict[Attribute, Any]) -> None:
        self._session = session
        self._key = key
        self._generation = session.generation
        self._public_key = public_key
        self._attributes = attributes
        self._operations: dict[tuple[str, int, RsaPadding | None], tuple[bytes, Callable[[bytes], bytes]]] = {}
        self._what = f"PKCS#11 token '{session.token.label}'"

    @property
    def lane(self) -> DeviceLane:
        """The module's lane: its calls are serialised by the module lock anyway."""
        return self._session.module.lane

    def _current_key(self) -> pkcs11.SignMixin:
        """The key object, found again when its session has been re-opened."""
        if self._generation != self._session.generation:
            with self._session.use("finding the key again") as session:
                found = _find_one(session, ObjectClass.PRIVATE_KEY, self._attributes)
                generation = self._session.generation
            if found is None:
                raise KmsUnavailable(f"{self._what}: the key {_describe(self._attributes)} is gone",
                                     fault=Fault.DEVICE)
            self._key, self._generation = found, generation
            self._operations.clear()
        return self._key

    def _operation(self, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> tuple[bytes, Callable[[bytes], bytes]]:
        """(DigestInfo prefix, bound ``key.sign``) for a hash and padding, made once per key object."""
        cache_key = (algorithm.name, algorithm.digest_size, rsa_padding)
        operation = self._operations.get(cache_key)
        if operation is None:
            prefix, mechanism, param = signing_mechanism(self._public_key, algorithm, rsa_padding)
            operation = prefix, functools.partial(self._current_key().sign, mechanism=mechanism, mechanism_param=param)
            self._operations[cache_key] = operation
        return operation

    def _on_device(self, what: str, operation: Callable[[], tuple[bytes, Callable[[bytes], bytes]]],
                   data: bytes) -> bytes:
        """``run(prefix + data)`` for ``(prefix, run) = operation()``, healed once on a fault.
        The heal names the session generation the failed call used, so that a call that
        raced with another caller's heal does not re-initialise the module once more."""
        used = self._generation

        def attempt() -> bytes:
            nonlocal used
            self._current_key()
            used = self._generation
            prefix, run = operation()
            return self._session.call(what, run, prefix + data)

        return with_one_retry(self._what, attempt, lambda fault: self._session.heal(used))

    def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm, rsa_padding: RsaPadding | None) -> bytes:
        return self._on_device("signing", lambda: self._operation(algorithm, rsa_padding), digest)

    def sign_message(self, message: bytes) -> bytes:
        return self._on_device(
            "signing", lambda: (b"", functools.partial(self._current_key().sign, mechanism=Mechanism.EDDSA)), message)

    def decrypt(self, ciphertext: bytes, rsa_padding: padding.AsymmetricPadding) -> bytes:
        """C_Decrypt (RSA); ``ValueError`` when the ciphertext does not open, as ``cryptography`` raises."""
        mechanism, param = decryption_mechanism(rsa_padding)

        def run(data: bytes) -> bytes:
            key = self._current_key()
            if not isinstance(key, pkcs11.DecryptMixin):  # python-pkcs11 adds it for CKA_DECRYPT
                raise UnsupportedKeyOperation("the key may not decrypt (CKA_DECRYPT is false)")
            try:
                plain = key.decrypt(data, mechanism=mechanism, mechanism_param=param)
            except _UNDECRYPTABLE:
                plain = None
            if plain is None:  # raised outside the handler: no device error in its context to retry on
                raise ValueError("the ciphertext does not decrypt with this key")
            return plain if isinstance(plain, bytes) else b"".join(plain)

        return self._on_device("decrypting", lambda: (b"", run), ciphertext)


def _key_attributes(uri: KmsUri) -> dict[Attribute, Any]:
    """The search template for the key a URI names by ``id`` and/or ``object``."""
    attributes: dict[Attribute, Any] = {}
    key_id = uri.get_bytes("id")
    if key_id is not None:
        attributes[Attribute.ID] = key_id
    label = uri.get("object")
    if label is not None:
        attributes[Attribute.LABEL] = label
    if not attributes:
        raise InvalidKmsUri("invalid pkcs11: URI: 'id' or 'object' is required to name a key")
    return attributes


def _describe(attributes: dict[Attribute, Any]) -> str:
    parts = [f"id={attributes[Attribute.ID].hex()}"] if Attribute.ID in attributes else []
    parts += [f"object={attributes[Attribute.LABEL]}"] if Attribute.LABEL in attributes else []
    return " ".join(parts)


def _find_one(session: pkcs11.Session, object_class: ObjectClass, attributes: dict[Attribute, Any]) -> Any | None:
    found = list(session.get_objects({Attribute.CLASS: object_class, **attributes}))
    if len(found) > 1:
        raise InvalidKmsUri(f"pkcs11: {len(found)} objects match {_describe(attributes)}: give both id and object")
    return found[0] if found else None


class PKCS11KMS(KeyManager):
    """Keys on a PKCS#11 token; signers are ``cryptography`` keys backed by it."""

    scheme = "pkcs11"

    def __init__(self, uri: KmsUri, *, password: bytes | None = None) -> None:
        super().__init__(uri, password=password)
        max_sessions = uri.get_int("max-sessions")
        if max_sessions is not None and max_sessions < 1:
            raise InvalidKmsUri("invalid pkcs11: URI: 'max-sessions' must be at least 1")
        self._tokens: dict[tuple[str, TokenSelector], TokenSession] = {}
        self._lock = threading.Lock()
        self._closed = False
        if uri.get("module-path") is not None:
            self._token(uri)  # fail now on a bad module, token or PIN

    def _token(self, uri: KmsUri) -> TokenSession:
        """The logged-in session on the token the URI names."""
        module = load_module(uri.require("module-path"))
        selector = TokenSelector(label=uri.get("token"), serial=uri.get("serial"), slot_id=uri.get_int("slot-id"))
        if selector == TokenSelector():
            raise InvalidKmsUri("invalid pkcs11: URI: 'token', 'serial' or 'slot-id' is required")
        with self._lock:
            if self._closed:
                raise KmsError("the PKCS#11 key manager is closed")
            session = self._tokens.get((module.path, selector))
            if session is None:
                pin = uri.pin()
                if pin is None and self.password is not None:
                    pin = self.password.decode()
                session = TokenSession.acquire(module, selector, pin)
                self._tokens[(module.path, selector)] = session
            return session

    def token_info(self) -> Mapping[str, str]:
        """The token named by the KMS URI: label, serial, manufacturer, model."""
        token = self._token(self.uri).token
        return {
            "label": token.label,
            "serial": token_serial(token),
            "manufacturer": token.manufacturer_id,
            "model": token.model,
        }

    def _public_key(self, session: pkcs11.Session, attributes: dict[Attribute, Any]) -> PublicKeyTypes | None:
        public = _find_one(session, ObjectClass.PUBLIC_KEY, attributes)
        if public is not None:
            return public_key_from_object(public)
        certificate = _find_one(session, ObjectClass.CERTIFICATE, attributes)
        if certificate is not None:
            return x509.load_der_x509_certificate(certificate[Attribute.VALUE]).public_key()
        return None

    def _not_found(self, token: TokenSession, attributes: dict[Attribute, Any]) -> KeyNotFound:
        return KeyNotFound(f"no key with {_describe(attributes)} on PKCS#11 token '{token.token.label}'")

    def get_public_key(self, key: str | KmsUri) -> PublicKeyTypes:
        uri = self.key_uri(key)
        token, attributes = self._token(uri), _key_attributes(uri)
        with token.use("reading a public key") as session:
            public_key = self._public_key(session, attributes)
        if public_key is None:
            raise self._not_found(token, attributes)
        return public_key

    def create_key(self, key: str | KmsUri, key_type: KeyType) -> CreatedKey:
        uri = self.key_uri(key)
        token = self._token(uri)
        key_id, label = uri.get_bytes("id"), uri.get("object")
        if key_id is None and label is None:
            raise InvalidKmsUri("invalid pkcs11: URI: 'id' or 'object' is required to name a key")
        with token.use("generating a key") as session:
            if label is not None and next(session.get_objects({Attribute.LABEL: label}), None) is not None:
                raise UnsupportedKeyOperation(f"an object labelled '{label}' exists on the token: refusing to overwrite it")
            if key_id is not None and next(session.get_objects({Attribute.ID: key_id}), None) is not None:
                raise UnsupportedKeyOperation(f"an object with id={key_id.hex()} exists on the token: refusing to overwrite it")
            while key_id is None:
                candidate = os.urandom(_ID_BYTES)
                if next(session.get_objects({Attribute.ID: candidate}), None) is None:
                    key_id = candidate
            arguments = keypair_templates(key_type, key_id, label)
            if arguments["mechanism"] not in token.token.slot.get_mechanisms():
                raise UnsupportedKeyOperation(f"the token cannot generate {key_type.name} keys ({arguments['mechanism'].name})")
            public, _ = session.generate_keypair(store=True, **arguments)
            public_key = public_key_from_object(public)
        return CreatedKey(uri=self._created_uri(uri, key_id, label), public_key=public_key)

    @staticmethod
    def _created_uri(uri: KmsUri, key_id: bytes, label: str | None) -> str:
        """The new key's URI, without the query (no PIN in it)."""
        parts = [f"{name}={quote(uri.attributes[name], safe='/')}" for name in _TOKEN_ATTRIBUTES if name in uri.attributes]
        parts.append(f"id={key_id.hex()}")
        if label is not None:
            parts.append(f"object={quote(label, safe='')}")
        return "pkcs11:" + ";".join(parts)

    def create_signer(self, key: str | KmsUri) -> PrivateKeyTypes:
        uri = self.key_uri(key)
        token, attributes = self._token(uri), _key_attributes(uri)
        with token.use("opening a signer") as session:
            private = _find_one(session, ObjectClass.PRIVATE_KEY, attributes)
            public_key = self._public_key(session, attributes) if private is not None else None
        if private is None or public_key is None:
            raise self._not_found(token, attributes)
        return device_private_key(public_key, Pkcs11DeviceKey(token, private, public_key, attributes))

    def decryption_paddings(self) -> frozenset[DecryptionPadding]:
        return EVERY_DECRYPTION_PADDING

    def create_decrypter(self, key: str | KmsUri) -> rsa.RSAPrivateKey:
        """An RSA key on the token that may decrypt (CKA_DECRYPT), as SCEP's decrypter."""
        uri = self.key_uri(key)
        token, attributes = self._token(uri), _key_attributes(uri)
        with token.use("opening a decrypter") as session:
            private = _find_one(session, ObjectClass.PRIVATE_KEY, attributes)
            public_key = self._public_key(session, attributes) if private is not None else None
            may_decrypt = private is not None and bool(private[Attribute.DECRYPT])
        if private is None or public_key is None:
            raise self._not_found(token, attributes)
        if not isinstance(public_key, rsa.RSAPublicKey) or not may_decrypt:
            raise UnsupportedKeyOperation(f"the key {_describe(attributes)} is not an RSA key that may decrypt "
                                          "(CKA_DECRYPT)")
        return DeviceRSAKey(public_key, Pkcs11DeviceKey(token, private, public_key, attributes))

    def store_certificate(self, key: str | KmsUri, certificate: x509.Certificate) -> None:
        """Store ``certificate`` with the key's id and label; refuses to replace one."""
        uri = self.key_uri(key)
        token, attributes = self._token(uri), _key_attributes(uri)
        with token.use("storing a certificate") as session:
            if _find_one(session, ObjectClass.CERTIFICATE, attributes) is not None:
                raise UnsupportedKeyOperation(f"a certificate with {_describe(attributes)} exists: refusing to overwrite it")
            template = decode_x509_certificate(certificate.public_bytes(serialization.Encoding.DER))
            session.create_object({**template, **attributes, Attribute.TOKEN: True, Attribute.PRIVATE: False})

    def load_certificate(self, key: str | KmsUri) -> x509.Certificate:
        uri = self.key_uri(key)
        token, attributes = self._token(uri), _key_attributes(uri)
        with token.use("reading a certificate") as session:
            found = _find_one(session, ObjectClass.CERTIFICATE, attributes)
            der = None if found is None else found[Attribute.VALUE]
        if der is None:
            raise KeyNotFound(f"no certificate with {_describe(attributes)} on PKCS#11 token '{token.token.label}'")
        return x509.load_der_x509_certificate(der)

    def delete_key(self, key: str | KmsUri) -> None:
        """Destroy the key pair (private and public objects); the certificate stays."""
        uri = self.key_uri(key)
        token, attributes = self._token(uri), _key_attributes(uri)
        with token.use("deleting a key") as session:
            objects = [obj for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
                       if (obj := _find_one(session, cls, attributes)) is not None]
            if not objects:
                raise self._not_found(token, attributes)
            for obj in objects:
                obj.destroy()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            tokens, self._tokens = list(self._tokens.values()), {}
        for token in tokens:
            token.release()
