"""smallstep's own ``step`` CLI (0.15.16, built from Debian's source by scripts/build-step-cli.sh) against
``appliance serve``: bootstrap, health, roots, provisioners, JWK and ACME certificates, renew, revoke (by
mTLS and by token) and SSH certificates. Every artefact is checked with openssl or ssh-keygen, revocation
through the CA's OCSP responder.

Left out: ``step ca init`` (not built: written against certificates 0.15's pki API), ``step certificate
inspect|lint|install`` (not built: zcrypto, zlint and certinfo are not in Debian)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import run_openssl
from tests.e2e.acme.challtestsrv import ChallTestSrv
from tests.e2e.acme.harness import add_acme_provisioner
from tests.e2e.harness import CA, Server, free_port, init_ca, start_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 60


@pytest.fixture(scope="session")
def step_binary() -> Path:
    """`step` 0.15.16, built once and cached under .cache/step-cli/ (scripts/install.sh --test builds it too)."""
    built = subprocess.run([str(ROOT / "scripts" / "build-step-cli.sh")], capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip())


@dataclass
class Step:
    """The `step` binary with its own STEPPATH, bootstrapped against the running CA."""

    binary: Path
    steppath: Path
    server: Server
    acme_http_port: int

    @property
    def ca(self) -> CA:
        return self.server.ca

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.binary), *map(str, args)], capture_output=True, text=True,
                                timeout=STEP_TIMEOUT, cwd=self.steppath,
                                env={**os.environ, "STEPPATH": str(self.steppath), "HOME": str(self.steppath)})
        if check:
            assert result.returncode == 0, f"step {' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"
        return result

    def jwk_token(self, subject: str, *args: str) -> str:
        """``step ca token`` with the JWK provisioner ``admin``, its key decrypted with the password file."""
        return self.run("ca", "token", "--provisioner", "admin", "--password-file", self.ca.password_file,
                        *args, subject).stdout.strip()

    def issue(self, name: str, *sans: str) -> tuple[Path, Path]:
        """``step ca token`` + ``step ca certificate``: the certificate (with its chain) and key files."""
        token = self.jwk_token(name, *[arg for san in sans for arg in ("--san", san)])
        crt, key = self.steppath / f"{name}.crt", self.steppath / f"{name}.key"
        self.run("ca", "certificate", "--token", token, name, crt, key)
        return crt, key


@pytest.fixture(scope="module")
def step(tmp_path_factory: pytest.TempPathFactory, step_binary: Path, challtestsrv: ChallTestSrv) -> Iterator[Step]:
    """A CA with SSH and OCSP, an ACME provisioner validating through the test DNS server, and a
    bootstrapped `step`."""
    ca = init_ca(tmp_path_factory.mktemp("stepcli"), "--ssh", "--ocsp")
    http_port = free_port()
    add_acme_provisioner(ca, "acme", require_eab=False, http_port=http_port, tls_port=free_port(),
                         resolver=challtestsrv.resolver)
    server = start_server(ca)
    try:
        client = Step(step_binary, tmp_path_factory.mktemp("steppath"), server, http_port)
        client.run("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", ca.fingerprint)
        yield client
    finally:
        server.stop()


def certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def sans(certificate: x509.Certificate) -> list[str]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(str(name.value) for name in names)


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def public_key_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_chain(ca: CA, crt: Path) -> None:
    """openssl verify of the leaf against the CA's root, the intermediate from the same file."""
    assert run_openssl("verify", "-CAfile", ca.root, "-untrusted", crt, crt).stdout.strip() == f"{crt}: OK"


def ocsp_status(ca: CA, crt: Path) -> str:
    """openssl ocsp against the URL in the certificate; the status line and the reason, if any."""
    url = run_openssl("x509", "-in", crt, "-noout", "-ocsp_uri").stdout.strip()
    out = run_openssl("ocsp", "-issuer", ca.intermediate, "-cert", crt, "-url", url, "-CAfile", ca.root).stdout
    status = re.search(rf"^{re.escape(str(crt))}: (\w+)", out, re.M)
    reason = re.search(r"Reason: (\w+)", out)
    assert status, out
    return status.group(1) + (f" {reason.group(1)}" if reason else "")


def test_bootstrap_writes_the_ca_url_fingerprint_and_root(step: Step) -> None:
    defaults = json.loads((step.steppath / "config" / "defaults.json").read_text())
    assert defaults["ca-url"] == step.ca.url
    assert defaults["fingerprint"] == step.ca.fingerprint
    assert Path(defaults["root"]).read_bytes().strip() == step.ca.root.read_bytes().strip()


def test_health(step: Step) -> None:
    assert step.run("ca", "health").stdout.strip() == "ok"


def test_roots(step: Step) -> None:
    step.run("ca", "roots", step.steppath / "roots.pem")
    assert certificates(step.steppath / "roots.pem") == certificates(step.ca.root)


def test_provisioner_list(step: Step) -> None:
    listed = {p["name"]: p for p in json.loads(step.run("ca", "provisioner", "list").stdout)}
    configured = {p["name"]: p for p in step.ca.data()["authority"]["provisioners"]}
    assert set(listed) == {"admin", "acme"}
    assert listed["admin"]["type"] == "JWK" and listed["acme"]["type"] == "ACME"
    assert listed["admin"]["key"]["kid"] == configured["admin"]["key"]["kid"]
    assert listed["admin"]["encryptedKey"] == configured["admin"]["encryptedKey"]


def test_jwk_certificate(step: Step) -> None:
    crt, key = step.issue("svc.example.com", "svc.example.com", "10.0.0.7")
    leaf, intermediate = certificates(crt)
    assert common_name(leaf) == "svc.example.com"
    assert sans(leaf) == ["10.0.0.7", "svc.example.com"]
    assert intermediate == certificates(step.ca.intermediate)[0]
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    assert public_key_der(leaf) == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    verify_chain(step.ca, crt)
    step.run("certificate", "verify", crt, "--roots", step.ca.root)
    assert ocsp_status(step.ca, crt) == "good"


def test_renew_keeps_names_and_key_with_a_new_serial(step: Step) -> None:
    crt, key = step.issue("renew.example.com", "renew.example.com")
    renewed = step.steppath / "renewed.crt"
    step.run("ca", "renew", crt, key, "--out", renewed)
    old, new = certificates(crt)[0], certificates(renewed)[0]
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject and sans(new) == sans(old) == ["renew.example.com"]
    assert public_key_der(new) == public_key_der(old)
    verify_chain(step.ca, renewed)


def test_revoke_with_the_certificate_then_renew_is_refused(step: Step) -> None:
    crt, key = step.issue("revoked.example.com", "revoked.example.com")
    serial = certificates(crt)[0].serial_number
    out = step.run("ca", "revoke", "--cert", crt, "--key", key, "--reason", "key lost", "--reasonCode", "1")
    assert f"Certificate with Serial Number {serial} has been revoked" in out.stderr + out.stdout
    assert ocsp_status(step.ca, crt) == "revoked keyCompromise"
    refused = step.run("ca", "renew", crt, key, "--out", step.steppath / "again.crt", check=False)
    assert refused.returncode != 0 and "revoked" in refused.stderr
    assert not (step.steppath / "again.crt").exists()


def test_revoke_by_serial_with_a_revoke_token(step: Step) -> None:
    crt, _ = step.issue("superseded.example.com", "superseded.example.com")
    serial = str(certificates(crt)[0].serial_number)
    token = step.jwk_token(serial, "--revoke")
    step.run("ca", "revoke", "--token", token, "--reasonCode", "4", serial)
    assert ocsp_status(step.ca, crt) == "revoked superseded"


def test_acme_certificate_with_standalone_http01(step: Step) -> None:
    crt, key = step.steppath / "acme.crt", step.steppath / "acme.key"
    step.run("ca", "certificate", "--provisioner", "acme", "--http-listen", f"127.0.0.1:{step.acme_http_port}",
             "web.stepcli.test", crt, key)
    leaf = certificates(crt)[0]
    assert sans(leaf) == ["web.stepcli.test"]
    # step 0.15 sends Go's zero time as notBefore/notAfter: the provisioner's default validity applies
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() <= 24 * 3600 + 61
    verify_chain(step.ca, crt)


def ssh_keygen(*args: str | Path) -> str:
    return subprocess.run(["ssh-keygen", *map(str, args)], capture_output=True, text=True, check=True).stdout


def key_fingerprint(public_key: Path) -> str:
    return ssh_keygen("-l", "-f", public_key).split()[1]


@pytest.mark.parametrize("kind", ["user", "host"])
def test_ssh_certificate(step: Step, kind: str) -> None:
    key = step.steppath / f"ssh-{kind}"
    ssh_keygen("-q", "-t", "ed25519", "-N", "", "-f", key)
    if kind == "user":
        subject, principals = "alice@example.com", ["alice", "ops"]
        flags = [arg for principal in principals for arg in ("--principal", principal)]
    else:
        subject, principals, flags = "host.example.com", ["host.example.com"], ["--host"]
    token = step.jwk_token(subject, "--ssh", *flags)
    step.run("ssh", "certificate", "--token", token, *flags, "--sign", subject, f"{key}.pub")
    listing = ssh_keygen("-L", "-f", f"{key}-cert.pub")
    assert f"{kind} certificate" in listing
    assert f'Key ID: "{subject}"' in listing
    listed = re.search(r"Principals:\s*\n((?:\s{16}\S+\n)+)", listing)
    assert listed and listed.group(1).split() == principals
    ca_key = step.ca.path / "certs" / f"ssh_{kind}_ca_key.pub"
    assert f"Signing CA: ECDSA {key_fingerprint(ca_key)}" in listing
    roots = step.run("ssh", "config", "--roots", *(["--host"] if kind == "host" else [])).stdout.split()
    assert roots[:2] == ca_key.read_text().split()[:2]
