"""Build a CA in-process for tests: root, intermediate (softkms, encrypted), a JWK
provisioner with its encryptedKey, ca.json and defaults-style helpers to make
tokens and CSRs. Shared by tests/authority, tests/api and tests/e2e."""

from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from appliance.authority.authority import Authority
from appliance.config import CaConfig, load_config, write_json
from appliance.db import SQLDatabase, open_database
from appliance.jose import encrypt_jwk, generate_jwk, public_dict, sign
from appliance.jose.jwk import JWK
from appliance.kms.softkms import encrypted_pem
from appliance.pki.keys import ML_DSA_PRIVATE_KEYS, new_ml_dsa_key

PASSWORD = b"test-password"
PROVISIONER = "admin@ca.test"
FAST_P2C = 1000  # keep key encryption cheap in tests


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_certificate(subject: str, key: PrivateKeyTypes, issuer: x509.Certificate | None,
                    issuer_key: PrivateKeyTypes, path_length: int, days: int) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)  # type: ignore[arg-type]
    )
    hash_alg = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, hash_alg)  # type: ignore[arg-type]


def new_key(kind: str = "EC") -> PrivateKeyTypes:
    """EC (P-256), EC384, RSA (2048), Ed25519 or ML-DSA-44/65/87."""
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "EC384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.startswith("ML-DSA-"):
        return new_ml_dsa_key(int(kind.removeprefix("ML-DSA-")))
    raise ValueError(kind)


def make_csr(common_name: str, names: list[str] | None = None, key: PrivateKeyTypes | None = None
             ) -> tuple[x509.CertificateSigningRequest, PrivateKeyTypes]:
    """A CSR with CN and DNS/IP SANs, and its key."""
    import ipaddress

    key = key or new_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name) if common_name else x509.Name([]))
    general: list[x509.GeneralName] = []
    for value in names if names is not None else [common_name]:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            general.append(x509.RFC822Name(value) if "@" in value else x509.DNSName(value))
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    hash_alg = None if isinstance(key, (ed25519.Ed25519PrivateKey, *ML_DSA_PRIVATE_KEYS)) else hashes.SHA256()
    return builder.sign(key, hash_alg), key  # type: ignore[arg-type]


@dataclass
class TestCA:
    """A CA on disk; ``config()`` loads its ca.json."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    path: Path
    config_path: Path
    root: x509.Certificate
    root_key: PrivateKeyTypes
    intermediate: x509.Certificate
    intermediate_key: PrivateKeyTypes
    provisioner_key: JWK
    dns_names: tuple[str, ...]
    provisioner: str = PROVISIONER
    password: bytes = PASSWORD

    @property
    def fingerprint(self) -> str:
        return self.root.fingerprint(hashes.SHA256()).hex()

    @property
    def root_path(self) -> Path:
        return self.path / "certs" / "root_ca.crt"

    @property
    def intermediate_path(self) -> Path:
        return self.path / "certs" / "intermediate_ca.crt"

    def config(self) -> CaConfig:
        return load_config(self.config_path, report=False)

    def audience(self, endpoint: str = "sign") -> str:
        return f"https://{self.dns_names[0]}:9000/1.0/{endpoint}"

    def token(self, subject: str, *, sans: list[str] | None = None, endpoint: str = "sign",
              audience: str | None = None, key: JWK | None = None, issuer: str | None = None,
              not_before: float | None = None, lifetime: float = 300, issued_at: float | None = None,
              sha: str | None = None, jti: str | None = None, omit: tuple[str, ...] = ()) -> str:
        """A one-time token as ``step ca token`` makes it; every claim can be overridden."""
        now = time.time()
        nbf = now if not_before is None else not_before
        claims: dict[str, Any] = {
            "iss": issuer or self.provisioner,
            "aud": audience or self.audience(endpoint),
            "sub": subject,
            "nbf": int(nbf),
            "iat": int(issued_at if issued_at is not None else nbf),
            "exp": int(nbf + lifetime),
            "jti": jti or uuid.uuid4().hex,
            "sha": sha or self.fingerprint,
        }
        if sans is not None:
            claims["sans"] = sans
        for name in omit:
            claims.pop(name, None)
        return sign(claims, key or self.provisioner_key)


def build_ca(tmp_path: Path, *, dns_names: tuple[str, ...] = ("ca.test", "localhost"),
             authority: dict[str, Any] | None = None, provisioner: dict[str, Any] | None = None,
             crl: dict[str, Any] | None = None, ocsp: dict[str, Any] | None = None,
             lint: dict[str, Any] | None = None,
             intermediate_kind: str = "EC") -> TestCA:
    """Write a complete CA (step-ca layout) under ``tmp_path``.

    ``authority`` and ``provisioner`` are merged into the ca.json sections
    (e.g. ``provisioner={"claims": {"disableRenewal": True}}``)."""
    (tmp_path / "certs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "config").mkdir(exist_ok=True)
    root_key = new_key()
    root = _ca_certificate("Test Root CA", root_key, None, root_key, 1, 3650)
    intermediate_key = new_key(intermediate_kind)
    intermediate = _ca_certificate("Test Intermediate CA", intermediate_key, root, root_key, 0, 3650)
    (tmp_path / "certs" / "root_ca.crt").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "certs" / "intermediate_ca.crt").write_bytes(intermediate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "secrets" / "root_ca_key").write_bytes(encrypted_pem(root_key, PASSWORD))
    (tmp_path / "secrets" / "intermediate_ca_key").write_bytes(encrypted_pem(intermediate_key, PASSWORD))
    jwk = generate_jwk()
    provisioner_config = {
        "type": "JWK", "name": PROVISIONER, "key": public_dict(jwk),
        "encryptedKey": encrypt_jwk(jwk, PASSWORD, iterations=FAST_P2C), **(provisioner or {}),
    }
    ca_json = {
        "root": str(tmp_path / "certs" / "root_ca.crt"),
        "federatedRoots": None,
        "crt": str(tmp_path / "certs" / "intermediate_ca.crt"),
        "key": str(tmp_path / "secrets" / "intermediate_ca_key"),
        "address": ":9000",
        "dnsNames": list(dns_names),
        "logger": {"format": "text"},
        "db": {"type": "sqlite", "dataSource": str(tmp_path / "db" / "appliance.sqlite")},
        "authority": {"provisioners": [provisioner_config], **(authority or {})},
        "tls": {"minVersion": 1.2, "maxVersion": 1.3},
        **({"crl": crl} if crl is not None else {}),
        **({"ocsp": ocsp} if ocsp is not None else {}),
        **({"lint": lint} if lint is not None else {}),
    }
    (tmp_path / "db").mkdir(exist_ok=True)
    config_path = tmp_path / "config" / "ca.json"
    write_json(config_path, ca_json)
    return TestCA(path=tmp_path, config_path=config_path, root=root, root_key=root_key, intermediate=intermediate,
                  intermediate_key=intermediate_key, provisioner_key=jwk, dns_names=dns_names)


def open_authority(ca: TestCA) -> tuple[SQLDatabase, Authority]:
    """The database ca.json names and the authority on it, as ``appliance serve`` composes them."""
    config = ca.config()
    database = open_database(config.db)
    return database, Authority.from_config(config, database, password=ca.password)
