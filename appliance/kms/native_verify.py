"""ECDSA verification on the system's libcrypto through ctypes, outside the GIL.

``cryptography`` holds the GIL while it verifies an EC signature, so a signer
that checks every device signature cannot verify one signature while another
thread waits in ``C_Sign``. ctypes releases the GIL for each foreign call, so
:class:`EcVerifier` lets the check of one signature run on one core while the
device makes the next on another. It is also an independent check: the
system's OpenSSL 3 build, not the one inside ``cryptography``'s wheel.

:func:`ec_verifier` returns ``None`` when libcrypto 3 cannot be loaded or the
key cannot be set up; callers then verify with ``cryptography`` (never skip).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import threading
import weakref

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_log = logging.getLogger(__name__)

_EVP_PKEY_EC = 408  # NID_X9_62_id_ecPublicKey
_OPENSSL_3 = 0x30000000


def _bind(lib: ctypes.CDLL, name: str, restype: type | None, *argtypes: type) -> None:
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)


def _open(name: str) -> ctypes.CDLL | None:
    """libcrypto by ``name`` with every function used here typed, if it is OpenSSL >= 3."""
    try:
        lib = ctypes.CDLL(name)
        _bind(lib, "OpenSSL_version_num", ctypes.c_ulong)
        if lib.OpenSSL_version_num() < _OPENSSL_3:
            return None
        _bind(lib, "d2i_PUBKEY", ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long)
        _bind(lib, "EVP_PKEY_get_base_id", ctypes.c_int, ctypes.c_void_p)
        _bind(lib, "EVP_PKEY_free", None, ctypes.c_void_p)
        _bind(lib, "EVP_PKEY_CTX_new", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
        _bind(lib, "EVP_PKEY_CTX_free", None, ctypes.c_void_p)
        _bind(lib, "EVP_PKEY_verify_init", ctypes.c_int, ctypes.c_void_p)
        _bind(lib, "EVP_PKEY_verify", ctypes.c_int,
              ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
        _bind(lib, "ERR_clear_error", None)
    except (OSError, AttributeError):
        return None
    return lib


@functools.cache
def libcrypto() -> ctypes.CDLL | None:
    """The system's libcrypto (OpenSSL >= 3), loaded once; ``None`` if there is none."""
    for name in dict.fromkeys(["libcrypto.so.3", ctypes.util.find_library("crypto")]):
        if name and (lib := _open(name)) is not None:
            return lib
    _fallback("no OpenSSL 3 libcrypto to load")
    return None


@functools.cache
def _fallback(reason: str) -> None:
    """Log, once per reason, that ECDSA signatures are verified with ``cryptography``."""
    _log.debug("native ECDSA verification unavailable (%s): verifying with cryptography", reason)


class _Context:
    """One ``EVP_PKEY_CTX`` set up for verification (it holds a reference to its key)."""

    __slots__ = ("handle", "__weakref__")

    def __init__(self, lib: ctypes.CDLL, pkey: int) -> None:
        handle = lib.EVP_PKEY_CTX_new(pkey, None)
        if not handle:
            raise OSError("EVP_PKEY_CTX_new failed")
        weakref.finalize(self, lib.EVP_PKEY_CTX_free, handle).atexit = False
        if lib.EVP_PKEY_verify_init(handle) != 1:
            raise OSError("EVP_PKEY_verify_init failed")
        self.handle = handle


class EcVerifier:
    """Verifies ECDSA signatures (DER) over digests for one public key.

    The ``EVP_PKEY`` is made once and shared read-only; each thread gets its own
    ``EVP_PKEY_CTX`` (a context must not be shared), initialised once and reused
    (``EVP_PKEY_verify`` may be called repeatedly on one context).
    """

    def __init__(self, lib: ctypes.CDLL, public_key: ec.EllipticCurvePublicKey) -> None:
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        start = ctypes.c_char_p(der)
        cursor = ctypes.c_char_p(der)
        pkey = lib.d2i_PUBKEY(None, ctypes.byref(cursor), len(der))
        if not pkey:
            lib.ERR_clear_error()
            raise OSError("d2i_PUBKEY refused the public key")
        weakref.finalize(self, lib.EVP_PKEY_free, pkey).atexit = False
        consumed = ctypes.cast(cursor, ctypes.c_void_p).value - ctypes.cast(start, ctypes.c_void_p).value
        if consumed != len(der) or lib.EVP_PKEY_get_base_id(pkey) != _EVP_PKEY_EC:
            raise OSError("d2i_PUBKEY did not read the whole key as an EC key")
        self._lib = lib
        self._pkey = pkey
        self._local = threading.local()
        self._context()  # fail now, not on the first signature

    def _context(self) -> int:
        context = getattr(self._local, "context", None)
        if context is None:
            context = self._local.context = _Context(self._lib, self._pkey)
        return context.handle

    def verify(self, signature: bytes, digest: bytes) -> bool:
        """True only if ``signature`` (DER ECDSA-Sig-Value) is valid for ``digest``."""
        lib = self._lib
        if lib.EVP_PKEY_verify(self._context(), bytes(signature), len(signature), bytes(digest), len(digest)) == 1:
            return True
        lib.ERR_clear_error()  # a refused signature leaves errors on this thread's queue
        return False


def ec_verifier(public_key: ec.EllipticCurvePublicKey) -> EcVerifier | None:
    """A native verifier for ``public_key``, or ``None`` (verify with ``cryptography``)."""
    lib = libcrypto()
    if lib is None:
        return None
    try:
        return EcVerifier(lib, public_key)
    except OSError as exc:
        _fallback(str(exc))
        return None
