"""Ceremony files for tests: a two-tier PKI on an "HSM" (softkms files or a
SoftHSM2 token), with dates relative to now and every path inside a work folder."""

from __future__ import annotations

import datetime
import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from appliance.pki.clock import utc_now
from tests.conftest import SoftHSMToken

def when(days: float) -> str:
    """``days`` from the start of this hour (whole hours, so that the dates of one
    ceremony agree however long the suite runs before or during it)."""
    base = utc_now().replace(minute=0, second=0, microsecond=0)
    return (base + datetime.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass
class Hsm:
    """Where ceremony keys live: ``kms`` opens it (PIN from a file), ``key(name)``
    names a key in it, ``snapshot()`` lists what is stored (to prove nothing changed)."""

    kms: str
    key: Callable[[str], str]
    snapshot: Callable[[], list[str]]


def softkms_hsm(folder: Path) -> Hsm:
    keys = folder / "keys"
    keys.mkdir()
    password = folder / "key-password"
    password.write_text("correct horse battery staple\n")

    def snapshot() -> list[str]:
        return sorted(f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in keys.iterdir())

    return Hsm("softkms:", lambda name: f"softkms:path={keys / name}.key?password-source={password}", snapshot)


def softhsm_hsm(token: SoftHSMToken, folder: Path) -> Hsm:
    pin_file = folder / f"{token.label}.pin"
    pin_file.write_text(token.pin + "\n")

    def snapshot() -> list[str]:
        listing = subprocess.run(
            ["pkcs11-tool", "--module", token.module, "--token-label", token.label, "--login",
             "--pin", token.pin, "--list-objects"], capture_output=True, text=True, check=True,
        )
        return listing.stdout.splitlines()

    kms = f"pkcs11:module-path={token.module};token={token.label}?pin-source={pin_file}"
    return Hsm(kms, lambda name: f"pkcs11:object={name}", snapshot)


@dataclass
class Ceremonies:
    """Writes ceremony files into ``folder``; ``root_hsm`` holds the root key,
    ``online_hsm`` the intermediate's (the online CA's) key."""

    folder: Path
    root_hsm: Hsm
    online_hsm: Hsm
    operator: str = "Alice Custodian"
    written: list[Path] = field(default_factory=list)

    def write(self, name: str, document: dict[str, Any]) -> Path:
        path = self.folder / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        self.written.append(path)
        return path

    def _common(self, kind: str, hsm: Hsm, key: str) -> dict[str, Any]:
        return {"ceremony-type": kind, "operator": self.operator, "transcript": "transcript.jsonl",
                "hsm": {"kms": hsm.kms, "key": hsm.key(key)}}

    def key(self, name: str = "root-key.yaml", *, online: bool = False, key: str = "root-key",
            spec: dict[str, Any] | None = None, out: str = "root-key.pub.pem") -> dict[str, Any]:
        hsm = self.online_hsm if online else self.root_hsm
        return {**self._common("key", hsm, key), "key": spec or {"type": "EC", "curve": "P-384"},
                "outputs": {"public-key": out}}

    def root(self) -> dict[str, Any]:
        return {
            **self._common("root", self.root_hsm, "root-key"),
            "certificate": {
                "subject": {"common-name": "Test Root CA", "organization": "Appliance Tests", "country": "DE"},
                "not-before": when(-1), "not-after": when(3650), "path-length": 1,
                "key-usages": ["cert-sign", "crl-sign"],
            },
            "outputs": {"certificate": "root.crt"},
        }

    def intermediate(self) -> dict[str, Any]:
        return {
            **self._common("intermediate", self.root_hsm, "root-key"),
            "inputs": {"issuer-certificate": "root.crt", "public-key": "intermediate-key.pub.pem"},
            "certificate": {
                "subject": {"common-name": "Test Intermediate CA", "organization": "Appliance Tests"},
                "not-before": when(-1), "not-after": when(1825),
                "key-usages": ["digital-signature", "cert-sign", "crl-sign"],
                "extended-key-usages": ["server-auth", "client-auth"],
                "policy-oids": ["2.23.140.1.2.1"],
                "crl-urls": ["http://pki.example.test/root.crl"],
                "issuer-urls": ["http://pki.example.test/root.crt"],
                "name-constraints": {"permitted-dns": ["example.test"], "excluded-ip": ["0.0.0.0/0"]},
            },
            "outputs": {"certificate": "intermediate.crt"},
        }

    def crl(self, revoked: str | None = "revoked.yaml") -> dict[str, Any]:
        inputs = {"issuer-certificate": "root.crt"}
        if revoked:
            inputs["revoked"] = revoked
        return {
            **self._common("crl", self.root_hsm, "root-key"),
            "inputs": inputs,
            "crl": {"number": 1, "this-update": when(0), "next-update": when(365)},
            "outputs": {"crl-der": "root.crl", "crl-pem": "root.crl.pem"},
        }

    def csr(self) -> dict[str, Any]:
        return {
            **self._common("csr", self.online_hsm, "intermediate-key"),
            "csr": {"subject": {"common-name": "Test Intermediate CA"}, "path-length": 0,
                    "key-usages": ["digital-signature", "cert-sign", "crl-sign"]},
            "outputs": {"csr": "intermediate.csr"},
        }

    def cross_csr(self) -> dict[str, Any]:
        return {
            **self._common("cross-csr", self.root_hsm, "root-key"),
            "inputs": {"certificate": "root.crt"},
            "outputs": {"csr": "root-cross.csr"},
        }

    def revoked(self) -> Path:
        """Two revoked serials (one with a reason) in ``revoked.yaml``."""
        path = self.folder / "revoked.yaml"
        path.write_text(yaml.safe_dump([
            {"serial": "7a:3f:09:c1:00:01", "revoked-at": when(-2), "reason": "keyCompromise"},
            {"serial": "0badc0de", "revoked-at": when(-1)},
        ]))
        return path

    def two_tier(self) -> list[Path]:
        """The five ceremony files of a two-tier PKI, in the order they run."""
        self.revoked()
        return [
            self.write("1-root-key.yaml", self.key()),
            self.write("2-root.yaml", self.root()),
            self.write("3-intermediate-key.yaml", self.key(online=True, key="intermediate-key",
                                                           spec={"type": "EC", "curve": "P-256"},
                                                           out="intermediate-key.pub.pem")),
            self.write("4-intermediate.yaml", self.intermediate()),
            self.write("5-root-crl.yaml", self.crl()),
        ]
