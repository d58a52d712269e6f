"""ca.json's ``tls`` section with step-ca's names and defaults, and the OpenSSL
name of every cipher suite step-ca knows. ``appliance.server.tls`` applies it to
the listeners; sign, renew and rekey responses return it as ``tlsOptions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.config.errors import ConfigError

#: step-ca's (Go's) cipher suite names -> OpenSSL's, TLS 1.0-1.2 suites.
TLS12_SUITES: dict[str, str] = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",  # step-ca's legacy names
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
#: TLS 1.3 suites: OpenSSL uses the same names.
TLS13_SUITES = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"})
DEFAULT_CIPHER_SUITES = ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
#: The versions this appliance offers (step-ca also accepts 1.0 and 1.1; refused here).
VERSIONS = (1.2, 1.3)


@dataclass(frozen=True)
class TlsOptions:
    """step-ca's ``TLSOptions``. TLS 1.3 suites in ``cipher_suites`` restrict TLS 1.3
    to them (Go ignores them and always offers all three); without any, TLS 1.3
    offers all three, as step-ca does."""

    cipher_suites: tuple[str, ...] = DEFAULT_CIPHER_SUITES
    min_version: float = 1.2
    max_version: float = 1.3
    renegotiation: bool = False

    @property
    def openssl_tls12_ciphers(self) -> str:
        """The TLS 1.2 suites as an OpenSSL cipher string ("" if none)."""
        return ":".join(dict.fromkeys(TLS12_SUITES[s] for s in self.cipher_suites if s in TLS12_SUITES))

    @property
    def tls13_suites(self) -> tuple[str, ...]:
        return tuple(s for s in self.cipher_suites if s in TLS13_SUITES)

    def to_json(self) -> dict[str, Any]:
        """As step-ca returns it in ``tlsOptions``."""
        return {"cipherSuites": list(self.cipher_suites), "minVersion": self.min_version,
                "maxVersion": self.max_version, "renegotiation": self.renegotiation}


def _version(section: dict[str, Any], name: str, default: float) -> float:
    value = section.get(name)
    if value in (None, 0):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) not in (1.0, 1.1, *VERSIONS):
        raise ConfigError(f"ca.json: 'tls.{name}' must be one of 1.2 or 1.3, not {value!r}")
    if float(value) not in VERSIONS:
        raise ConfigError(f"ca.json: 'tls.{name}' {value} is not supported: this appliance offers TLS 1.2 and 1.3 only")
    return float(value)


def parse_tls(section: dict[str, Any]) -> TlsOptions:
    """``tls`` from ca.json; absent members take step-ca's defaults."""
    defaults = TlsOptions()
    suites = section.get("cipherSuites") or list(defaults.cipher_suites)
    if not isinstance(suites, list) or not all(isinstance(s, str) for s in suites):
        raise ConfigError("ca.json: 'tls.cipherSuites' must be a list of strings")
    unknown = [s for s in suites if s not in TLS12_SUITES and s not in TLS13_SUITES]
    if unknown:
        raise ConfigError(f"ca.json: 'tls.cipherSuites': {', '.join(unknown)} is not a valid cipher suite")
    renegotiation = section.get("renegotiation", False)
    if not isinstance(renegotiation, bool):
        raise ConfigError("ca.json: 'tls.renegotiation' must be true or false")
    options = TlsOptions(tuple(suites), _version(section, "minVersion", defaults.min_version),
                         _version(section, "maxVersion", defaults.max_version), renegotiation)
    if options.min_version > options.max_version:
        raise ConfigError("ca.json: 'tls.minVersion' cannot exceed 'tls.maxVersion'")
    if options.min_version < 1.3 and not options.openssl_tls12_ciphers:
        raise ConfigError("ca.json: 'tls.cipherSuites' names no TLS 1.2 suite while 'tls.minVersion' is 1.2")
    return options
