"""Certificate chains made by the openssl command line (not by the code under test)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from appliance.client.files import load_key_file

_CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@dataclass(frozen=True)
class Chain:
    """A root, an intermediate and leaves, as PEM files under ``directory``."""

    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / "root.crt"

    @property
    def intermediate(self) -> Path:
        return self.directory / "intermediate.crt"

    def leaf(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def bundle(self, name: str) -> Path:
        """Leaf then intermediate, as ``--x5c-cert`` takes it."""
        path = self.directory / f"{name}-bundle.crt"
        path.write_bytes(self.leaf(name).read_bytes() + self.intermediate.read_bytes())
        return path

    def certificates(self, name: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.bundle(name).read_bytes())

    def private_key(self, name: str) -> PrivateKeyTypes:
        return load_key_file(self.key(name))

    def issue_leaf(self, name: str, key_usage: str = "critical,digitalSignature", days: int = 30) -> Path:
        """A leaf signed by the intermediate, with ``key_usage``."""
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", self.key(name))
        csr = self.directory / f"{name}.csr"
        _openssl("req", "-new", "-key", self.key(name), "-subj", f"/CN={name}", "-out", csr)
        ext = self.directory / f"{name}.ext"
        ext.write_text(f"keyUsage={key_usage}\nsubjectAltName=DNS:{name}\n")
        _openssl("x509", "-req", "-in", csr, "-CA", self.intermediate, "-CAkey", self.key("intermediate"),
                 "-CAcreateserial", "-days", str(days), "-extfile", ext, "-out", self.leaf(name))
        return self.leaf(name)


def make_chain(directory: Path) -> Chain:
    """Root -> intermediate (both CA:TRUE) made with openssl, plus a leaf ``device``."""
    directory.mkdir(parents=True, exist_ok=True)
    chain = Chain(directory)
    ext = directory / "ca.ext"
    ext.write_text(_CA_EXT)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", chain.key("root"))
    _openssl("req", "-x509", "-new", "-key", chain.key("root"), "-subj", "/CN=X5C Test Root", "-days", "365",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", chain.root)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", chain.key("intermediate"))
    csr = directory / "intermediate.csr"
    _openssl("req", "-new", "-key", chain.key("intermediate"), "-subj", "/CN=X5C Test Intermediate", "-out", csr)
    _openssl("x509", "-req", "-in", csr, "-CA", chain.root, "-CAkey", chain.key("root"), "-CAcreateserial",
             "-days", "365", "-extfile", ext, "-out", chain.intermediate)
    chain.issue_leaf("device")
    return chain
