"""A ``moto_server`` whose KMS signs like AWS, for the awskms tests.

moto 5.2.x gets two things about asymmetric signing wrong (see
``moto/kms/responses.py`` ``KmsResponse.sign`` and ``moto/kms/utils.py``
``RSAPrivateKey.sign`` / ``ECDSAPrivateKey.sign``):

* it ignores ``MessageType``: a ``DIGEST`` message is hashed again, so the
  signature is over H(digest) and fails to verify over the digest;
* RSA-PSS uses ``salt_length=MAX_LENGTH``; AWS uses salt length = digest length;
* it has no asymmetric decryption: ``Decrypt`` ignores ``EncryptionAlgorithm`` and
  reads every ciphertext as its own symmetric blob (``moto/kms/utils.py`` ``decrypt``),
  so an RSA ``ENCRYPT_DECRYPT`` key answers InvalidCiphertextException to any
  ciphertext made with its public key.

:func:`patch_moto_kms` fixes the emulator (never the production code): the
response handler notes the request's ``MessageType`` and the key classes sign
a ``DIGEST`` as ``Prehashed``, refusing one of the wrong length as AWS does;
``Decrypt`` with ``RSAES_OAEP_SHA_1``/``RSAES_OAEP_SHA_256`` opens the ciphertext
with the RSA key moto generated (OAEP with that hash for MGF1 too, as AWS), and
answers as AWS: InvalidKeyUsageException for a key that does not decrypt,
InvalidCiphertextException for a ciphertext that does not open.
Run ``python -m tests.kms.fakes.moto_kms -p PORT`` to serve the patched moto;
:func:`moto_server` does that on a free loopback port.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

ROOT = Path(__file__).resolve().parents[3]
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_request = threading.local()  # werkzeug serves each request on its own thread


def patch_moto_kms() -> None:
    """Make moto's KMS honour ``MessageType=DIGEST`` and sign PSS with salt = digest length."""
    from moto.kms import utils as kms_utils
    from moto.kms.exceptions import ValidationException
    from moto.kms.responses import KmsResponse

    original_response_sign = KmsResponse.sign

    def response_sign(self: KmsResponse) -> str:
        _request.digest = self._get_param("MessageType") == "DIGEST"
        try:
            return original_response_sign(self)
        finally:
            _request.digest = False

    def key_sign(self: kms_utils.AbstractPrivateKey, message: bytes, signing_algorithm: str) -> bytes:
        allowed = getattr(self, "valid_signing_algorithms", None) or kms_utils.SigningAlgorithm.rsa_signing_algorithms()
        kms_utils.validate_signing_algorithm(signing_algorithm, allowed)
        hash_alg = _HASHES[signing_algorithm[-3:]]()
        chosen: hashes.HashAlgorithm | utils.Prehashed = hash_alg
        if getattr(_request, "digest", False):
            if len(message) != hash_alg.digest_size:
                raise ValidationException(f"Digest is invalid length for algorithm {signing_algorithm}.")
            chosen = utils.Prehashed(hash_alg)
        key = self.private_key  # type: ignore[attr-defined]
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(message, ec.ECDSA(chosen))
        if "_PSS_" in signing_algorithm:
            pad: padding.AsymmetricPadding = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=padding.PSS.DIGEST_LENGTH)
        else:
            pad = padding.PKCS1v15()
        return key.sign(message, pad, chosen)

    KmsResponse.sign = response_sign  # type: ignore[method-assign]
    KmsResponse.decrypt = _asymmetric_decrypt(KmsResponse.decrypt)  # type: ignore[method-assign,assignment]
    kms_utils.RSAPrivateKey.sign = key_sign  # type: ignore[method-assign]
    kms_utils.ECDSAPrivateKey.sign = key_sign  # type: ignore[method-assign]


_OAEP = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def _asymmetric_decrypt(symmetric: Callable[[Any], str]) -> Callable[[Any], str]:
    """moto's ``Decrypt`` handler, with AWS's RSAES_OAEP_* decryption in front of it."""
    from moto.kms.exceptions import InvalidCiphertextException, InvalidKeyUsageException, ValidationException

    def decrypt(self: Any) -> str:
        algorithm = self._get_param("EncryptionAlgorithm") or "SYMMETRIC_DEFAULT"
        if algorithm == "SYMMETRIC_DEFAULT":
            return symmetric(self)
        key = self.kms_backend.describe_key(self._get_param("KeyId"))  # NotFoundException as moto answers it
        if key.key_usage != "ENCRYPT_DECRYPT" or not key.key_spec.startswith("RSA_"):
            raise InvalidKeyUsageException()
        if algorithm not in _OAEP:
            raise ValidationException(f"Value '{algorithm}' at 'encryptionAlgorithm' failed to satisfy constraint")
        oaep = padding.OAEP(mgf=padding.MGF1(_OAEP[algorithm]()), algorithm=_OAEP[algorithm](), label=None)
        try:
            plaintext = key.private_key.private_key.decrypt(self._get_param("CiphertextBlob"), oaep)
        except ValueError:
            raise InvalidCiphertextException() from None
        return json.dumps({"Plaintext": base64.b64encode(plaintext).decode(), "KeyId": key.arn,
                           "EncryptionAlgorithm": algorithm})

    return decrypt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server(*, patched: bool = True) -> Iterator[str]:
    """Run (patched) moto_server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    command = [sys.executable, "-m", "tests.kms.fakes.moto_kms", "-H", "127.0.0.1", "-p", str(port)]
    if not patched:
        command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: moto logs every request
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(endpoint, process, log)
            yield endpoint
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_up(endpoint: str, process: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"moto_server exited: {log.read().decode(errors='replace')}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {endpoint}")


if __name__ == "__main__":
    patch_moto_kms()
    from moto.server import main

    main(sys.argv[1:])
