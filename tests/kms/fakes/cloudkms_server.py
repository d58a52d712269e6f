"""A wire-protocol test double of Google Cloud KMS.

No Cloud KMS emulator exists, so this serves the part of
``google.cloud.kms.v1.KeyManagementService`` the appliance uses
(CreateCryptoKey, GetPublicKey, AsymmetricSign, AsymmetricDecrypt) over real gRPC on a loopback
port. Messages are the client library's own protobuf types, served through
generic handlers (the package ships no servicer), so the real
``KeyManagementServiceClient`` talks to it unchanged.

It keeps real keys (``cryptography``) and signs as Cloud KMS does: DER ECDSA
over the digest, RSA PKCS#1 v1.5 or PSS with salt length = digest length,
Ed25519 over the data; ASYMMETRIC_DECRYPT keys (``RSA_DECRYPT_OAEP_*``) open
RSA-OAEP with their hash (for MGF1 too) and answer INVALID_ARGUMENT to a
ciphertext that does not open; it checks request CRC32Cs and fills the response ones.
Tests steer it: ``corrupt(field)`` spoils one field of the next response,
``pending_reads`` makes new versions PENDING_GENERATION for that many reads,
and the projects in ``FAILING_PROJECTS`` answer with a fixed gRPC error.
"""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable

import google_crc32c
import grpc
import proto
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from google.cloud import kms_v1

SERVICE = "google.cloud.kms.v1.KeyManagementService"
Algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm
Handler = Callable[[Any, grpc.ServicerContext], Any]
FAILING_PROJECTS = {
    "denied": grpc.StatusCode.PERMISSION_DENIED,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_KEY_ID = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
_CURVES: dict[str, ec.EllipticCurve] = {"P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "SECP256K1": ec.SECP256K1()}
_HASHES: dict[str, hashes.HashAlgorithm] = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}
_OAEP_HASHES: dict[str, hashes.HashAlgorithm] = {"SHA1": hashes.SHA1(), **_HASHES}
_PURPOSES = {kms_v1.CryptoKey.CryptoKeyPurpose.ASYMMETRIC_SIGN: "_SIGN_",
             kms_v1.CryptoKey.CryptoKeyPurpose.ASYMMETRIC_DECRYPT: "_DECRYPT_"}


def _generate(algorithm: Algorithm) -> PrivateKeyTypes:
    """A key pair for a ``*_SIGN_*`` or ``RSA_DECRYPT_*`` algorithm, as Cloud KMS would generate it."""
    parts = algorithm.name.split("_")
    if parts[:2] == ["EC", "SIGN"]:
        return ed25519.Ed25519PrivateKey.generate() if parts[2] == "ED25519" else ec.generate_private_key(_CURVES[parts[2]])
    size = next(int(part) for part in parts if part.isdigit())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _hash_of(algorithm: Algorithm) -> hashes.HashAlgorithm | None:
    return _HASHES.get(algorithm.name.rsplit("_", 1)[-1])


@dataclass
class _Version:
    key: PrivateKeyTypes
    algorithm: Algorithm
    protection_level: kms_v1.ProtectionLevel
    pending_reads: int


class FakeCloudKms:
    """The fake service; ``start()`` serves it on a free loopback port (``port``)."""

    def __init__(self) -> None:
        self._versions: dict[str, _Version] = {}
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._corrupt: str | None = None
        self._server: grpc.Server | None = None
        self.port = 0
        self.pending_reads = 0
        self.requests: list[tuple[str, Any]] = []
        self._failures: dict[str, list[grpc.StatusCode]] = {}

    def fail(self, method: str, code: grpc.StatusCode, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with the gRPC status ``code``."""
        with self._lock:
            self._failures.setdefault(method, []).extend([code] * count)

    def corrupt(self, field: str) -> None:
        """Spoil ``field`` of the next response that has it (``name``, a CRC32C,
        ``verified_digest_crc32c``, ``pem`` or ``signature`` with a matching CRC32C)."""
        self._corrupt = field

    def start(self) -> int:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        methods: dict[str, tuple[Handler, type, type]] = {
            "CreateCryptoKey": (self._create_crypto_key, kms_v1.CreateCryptoKeyRequest, kms_v1.CryptoKey),
            "GetPublicKey": (self._get_public_key, kms_v1.GetPublicKeyRequest, kms_v1.PublicKey),
            "AsymmetricSign": (self._asymmetric_sign, kms_v1.AsymmetricSignRequest, kms_v1.AsymmetricSignResponse),
            "AsymmetricDecrypt": (self._asymmetric_decrypt, kms_v1.AsymmetricDecryptRequest,
                                  kms_v1.AsymmetricDecryptResponse),
        }
        handlers = {
            method: grpc.unary_unary_rpc_method_handler(
                self._recorded(method, fn), request_deserializer=request.deserialize,
                response_serializer=response.serialize,
            )
            for method, (fn, request, response) in methods.items()
        }
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    def _recorded(self, method: str, fn: Handler) -> Handler:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.requests.append((method, request))
                failures = self._failures.get(method)
                if failures:
                    context.abort(failures.pop(0), f"{method}: injected fault")
                resource = getattr(request, "name", None) or request.parent
                project = resource.split("/")[1] if "/" in resource else ""
                if project in FAILING_PROJECTS:
                    context.abort(FAILING_PROJECTS[project], f"{method} refused on project {project}")
                return self._spoiled(fn(request, context))
        return handle

    def _spoiled(self, response: proto.Message) -> proto.Message:
        field, fields = self._corrupt, type(response).meta.fields
        if field is None or field not in fields:
            return response
        self._corrupt = None
        if field == "name":
            response.name += "-other"
        elif field == "pem":
            response.pem = response.pem.replace("A", "B", 1)
        elif field == "signature":
            response.signature = bytes([response.signature[0] ^ 1]) + response.signature[1:]
            response.signature_crc32c = google_crc32c.value(response.signature)
        elif field.startswith("verified_"):
            setattr(response, field, False)
        else:
            setattr(response, field, getattr(response, field) + 1)
        return response

    def _version(self, name: str, context: grpc.ServicerContext) -> _Version:
        version = self._versions.get(name)
        if version is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found.")
        if version.pending_reads:
            version.pending_reads -= 1
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"{name} is not in state ENABLED, actual state: PENDING_GENERATION")
        return version

    def _create_crypto_key(self, request: kms_v1.CreateCryptoKeyRequest, context: grpc.ServicerContext) -> kms_v1.CryptoKey:
        name = f"{request.parent}/cryptoKeys/{request.crypto_key_id}"
        template = request.crypto_key.version_template
        if not _KEY_ID.match(request.crypto_key_id):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "crypto_key_id is invalid")
        if _PURPOSES.get(request.crypto_key.purpose, "-") not in template.algorithm.name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "this fake makes ASYMMETRIC_SIGN and ASYMMETRIC_DECRYPT "
                                                            "keys only, with an algorithm of that purpose")
        if name in self._keys:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists.")
        level = template.protection_level or kms_v1.ProtectionLevel.SOFTWARE
        self._keys.add(name)
        if not request.skip_initial_version_creation:
            version = _Version(_generate(template.algorithm), template.algorithm, level, self.pending_reads)
            self._versions[f"{name}/cryptoKeyVersions/1"] = version
        return kms_v1.CryptoKey(
            name=name, purpose=request.crypto_key.purpose,
            version_template=kms_v1.CryptoKeyVersionTemplate(algorithm=template.algorithm, protection_level=level),
        )

    def _get_public_key(self, request: kms_v1.GetPublicKeyRequest, context: grpc.ServicerContext) -> kms_v1.PublicKey:
        version = self._version(request.name, context)
        pem = version.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        return kms_v1.PublicKey(
            name=request.name, pem=pem, pem_crc32c=google_crc32c.value(pem.encode()),
            algorithm=version.algorithm, protection_level=version.protection_level,
        )

    def _asymmetric_sign(self, request: kms_v1.AsymmetricSignRequest,
                         context: grpc.ServicerContext) -> kms_v1.AsymmetricSignResponse:
        version = self._version(request.name, context)
        hash_alg = _hash_of(version.algorithm)
        if "_RAW_" in version.algorithm.name:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this fake does not make raw PKCS#1 signatures")
        if hash_alg is None:
            if request.digest_crc32c is not None or not request.data:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{version.algorithm.name} signs data, not a digest")
            payload, crc = request.data, request.data_crc32c
        else:
            kind = kms_v1.Digest.pb(request.digest).WhichOneof("digest")
            if kind != hash_alg.name:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"digest {kind} does not fit {version.algorithm.name}")
            payload, crc = getattr(request.digest, kind), request.digest_crc32c
        if crc is not None and crc != google_crc32c.value(payload):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the CRC32C of the request does not match its payload")
        signature = self._sign(version, payload, hash_alg)
        return kms_v1.AsymmetricSignResponse(
            name=request.name, signature=signature, signature_crc32c=google_crc32c.value(signature),
            verified_digest_crc32c=hash_alg is not None and crc is not None,
            verified_data_crc32c=hash_alg is None and crc is not None,
            protection_level=version.protection_level,
        )

    def _asymmetric_decrypt(self, request: kms_v1.AsymmetricDecryptRequest,
                            context: grpc.ServicerContext) -> kms_v1.AsymmetricDecryptResponse:
        version = self._version(request.name, context)
        key, name = version.key, version.algorithm.name
        if not name.startswith("RSA_DECRYPT_OAEP_") or not isinstance(key, rsa.RSAPrivateKey):
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{request.name} has purpose other than ASYMMETRIC_DECRYPT")
        crc = request.ciphertext_crc32c
        if crc is not None and crc != google_crc32c.value(request.ciphertext):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the CRC32C of the request does not match its payload")
        hash_alg = _OAEP_HASHES[name.rsplit("_", 1)[-1]]
        assert isinstance(key, rsa.RSAPrivateKey)  # abort raised above otherwise
        try:
            plaintext = key.decrypt(request.ciphertext, padding.OAEP(padding.MGF1(hash_alg), hash_alg, None))
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Decryption failed: the ciphertext is invalid.")
        return kms_v1.AsymmetricDecryptResponse(
            plaintext=plaintext, plaintext_crc32c=google_crc32c.value(plaintext),
            verified_ciphertext_crc32c=crc is not None, protection_level=version.protection_level,
        )

    @staticmethod
    def _sign(version: _Version, payload: bytes, hash_alg: hashes.HashAlgorithm | None) -> bytes:
        key = version.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(payload)
        assert hash_alg is not None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(payload, ec.ECDSA(utils.Prehashed(hash_alg)))
        assert isinstance(key, rsa.RSAPrivateKey)
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if "_PSS_" in version.algorithm.name:
            pad = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
        return key.sign(payload, pad, utils.Prehashed(hash_alg))
