"""Two OpenSSL settings that Python's ``ssl`` module has no API for, set through
ctypes on the ``SSL_CTX`` of an ``ssl.SSLContext`` (the first member of CPython's
context object, right after the object header), in the libssl that ``_ssl``
is linked to:

- the TLS 1.3 cipher suites (``SSL_CTX_set_ciphersuites``);
- the CA names sent in the certificate request (``SSL_CTX_set_client_CA_list``),
  which ``load_verify_locations`` does not set.

Each is read back afterwards; a value that did not take refuses the context, so
a setting is never silently ignored."""

from __future__ import annotations

import _ssl
import ctypes
import ssl
from functools import cache
from pathlib import Path

from appliance.errors import BadRequest


@cache
def _libssl() -> ctypes.CDLL:
    lib = ctypes.CDLL(_ssl.__file__)
    lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
    lib.SSL_load_client_CA_file.argtypes = [ctypes.c_char_p]
    lib.SSL_load_client_CA_file.restype = ctypes.c_void_p
    lib.SSL_CTX_set_client_CA_list.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.SSL_CTX_set_client_CA_list.restype = None
    lib.SSL_CTX_get_client_CA_list.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_client_CA_list.restype = ctypes.c_void_p
    lib.OPENSSL_sk_num.argtypes = [ctypes.c_void_p]
    lib.OPENSSL_sk_num.restype = ctypes.c_int
    return lib


def _ssl_ctx(context: ssl.SSLContext) -> int:
    """The ``SSL_CTX *`` of ``context``, checked by reading its options back."""
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer or _libssl().SSL_CTX_get_options(pointer) != int(context.options):
        raise BadRequest("cannot reach OpenSSL's SSL_CTX from this Python build")
    return pointer


def set_tls13_suites(context: ssl.SSLContext, suites: tuple[str, ...]) -> None:
    """Offer only ``suites`` (OpenSSL names) in TLS 1.3 handshakes."""
    if not _libssl().SSL_CTX_set_ciphersuites(_ssl_ctx(context), ":".join(suites).encode()):
        raise BadRequest(f"OpenSSL refused the TLS 1.3 cipher suites {', '.join(suites)}")
    offered = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.3"}
    if offered != set(suites):
        raise BadRequest(f"the TLS 1.3 cipher suites are {sorted(offered)}, not {sorted(suites)}")


def set_client_ca_names(context: ssl.SSLContext, pem_file: Path, count: int) -> None:
    """Name the ``count`` certificates of ``pem_file`` as acceptable client-certificate issuers."""
    lib = _libssl()
    names = lib.SSL_load_client_CA_file(str(pem_file).encode())
    if not names:
        raise BadRequest(f"cannot read the CA names in {pem_file}")
    pointer = _ssl_ctx(context)
    lib.SSL_CTX_set_client_CA_list(pointer, names)  # the context owns the list now
    listed = lib.SSL_CTX_get_client_CA_list(pointer)
    if not listed or lib.OPENSSL_sk_num(listed) != count:
        raise BadRequest(f"OpenSSL did not take the {count} client CA names of {pem_file}")
