"""``appliance ca ...`` against a running server: bootstrap pins the root, tokens
are step's, certificates verify with openssl, renew and revoke take effect."""

from __future__ import annotations

import json
import signal
import stat
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.client.settings import CaSettings
from appliance.jose import UnverifiedToken, key_from_dict
from tests.cli.conftest import Client
from tests.conftest import SoftHSMToken
from tests.e2e.harness import Server

pytestmark = pytest.mark.slow
RELOAD_TIMEOUT = 30.0


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _openssl_verify(openssl: Callable[..., Any], server: Server, crt: Path) -> None:
    """The leaf in ``crt`` verifies to the root with the intermediate from the server."""
    openssl("verify", "-CAfile", server.ca.root, "-untrusted", server.ca.intermediate, crt)


def _issue(client: Client, server: Server, name: str, *extra: str) -> tuple[Path, Path]:
    crt, key = client.path / f"{name}.crt", client.path / f"{name}.key"
    client.ok("ca", "certificate", name, crt, key, "--provisioner", "admin",
              "--password-file", server.ca.password_file, *extra)
    return crt, key


def test_bootstrap_pins_the_root_and_writes_defaults(client: Client, server: Server) -> None:
    ca = server.ca
    assert "(404)" in client.fails("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", "ab" * 32)
    assert "64 hex digits" in client.fails("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", "abc")
    assert not client.root.exists()
    client.ok("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", ca.fingerprint.upper())
    assert client.root.read_bytes() == ca.root.read_bytes()
    defaults = json.loads((client.path / "config" / "defaults.json").read_text())
    assert defaults == {"ca-url": ca.url, "fingerprint": ca.fingerprint, "root": str(client.root)}
    assert "--force" in client.fails("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", ca.fingerprint)
    client.ok("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", ca.fingerprint, "--force")
    assert client.ok("ca", "health").stdout == "ok\n"


def test_health_refuses_a_server_that_does_not_chain_to_the_pinned_root(client: Client, server: Server,
                                                                        tmp_path: Path) -> None:
    other = tmp_path / "other-root.crt"
    other.write_bytes(server.ca.intermediate.read_bytes())  # a CA certificate, but not the server's root
    assert "cannot reach" in client.fails("ca", "health", "--ca-url", server.ca.url, "--root", other)


def test_token_is_a_step_token_signed_by_the_provisioner(bootstrapped: Client, server: Server) -> None:
    ca = server.ca
    out = bootstrapped.ok("ca", "token", "svc.example", "--san", "svc.example", "--san", "10.1.2.3",
                          "--provisioner", "admin", "--password-file", ca.password_file).stdout
    token = UnverifiedToken.parse(out.strip())
    (entry,) = [p for p in ca.data()["authority"]["provisioners"] if p["name"] == "admin"]
    claims = token.verify(key_from_dict(entry["key"]))
    assert token.header["kid"] == entry["key"]["kid"]
    assert claims["iss"] == "admin" and claims["sub"] == "svc.example"
    assert claims["aud"] == f"{ca.url}/1.0/sign" and claims["sans"] == ["svc.example", "10.1.2.3"]
    assert claims["sha"] == ca.fingerprint and claims["exp"] - claims["nbf"] == 300 and len(claims["jti"]) == 64
    revoke = UnverifiedToken.parse(bootstrapped.ok(
        "ca", "token", "1234", "--revoke", "--provisioner", "admin", "--password-file", ca.password_file).stdout.strip())
    assert revoke.claims["aud"] == f"{ca.url}/1.0/revoke" and revoke.claims["sub"] == "1234"


def test_token_with_a_wrong_password_fails_without_output(bootstrapped: Client, server: Server,
                                                          tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    result = bootstrapped.run("ca", "token", "x.example", "--provisioner", "admin", "--password-file", wrong)
    assert result.exit_code == 1 and result.stdout == "" and "wrong password" in result.stderr
    assert "no provisioner named 'nobody'" in bootstrapped.fails(
        "ca", "token", "x.example", "--provisioner", "nobody", "--password-file", server.ca.password_file)


def test_certificate_verifies_with_openssl(bootstrapped: Client, server: Server,
                                           openssl: Callable[..., Any]) -> None:
    crt, key = _issue(bootstrapped, server, "web.example", "--san", "web.example", "--san", "127.0.0.1",
                      "--not-after", "2h")
    _openssl_verify(openssl, server, crt)
    leaf, intermediate = _chain(crt)
    assert intermediate.public_bytes(serialization.Encoding.PEM) == server.ca.intermediate.read_bytes()
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["web.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert 7100 < (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() <= 7260
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and b"ENCRYPTED" not in key.read_bytes()
    key_public = openssl("pkey", "-in", key, "-pubout").stdout
    assert key_public == openssl("x509", "-in", crt, "-noout", "-pubkey").stdout
    assert "--force" in bootstrapped.fails("ca", "certificate", "web.example", crt, key, "--provisioner", "admin",
                                           "--password-file", server.ca.password_file)


def test_certificate_with_a_token_takes_the_token_names(bootstrapped: Client, server: Server,
                                                        openssl: Callable[..., Any]) -> None:
    token = bootstrapped.ok("ca", "token", "api.example", "--san", "api.example", "--san", "api2.example",
                            "--provisioner", "admin", "--password-file", server.ca.password_file).stdout.strip()
    crt, key = bootstrapped.path / "api.crt", bootstrapped.path / "api.key"
    bootstrapped.ok("ca", "certificate", "api.example", crt, key, "--token", token, "--kty", "RSA", "--size", "2048")
    _openssl_verify(openssl, server, crt)
    leaf = _chain(crt)[0]
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["api.example", "api2.example"]
    assert "Private-Key: (2048 bit" in openssl("pkey", "-in", key, "-noout", "-text").stdout
    other = bootstrapped.path / "again.crt"
    assert "401" in bootstrapped.fails("ca", "certificate", "api.example", other, bootstrapped.path / "again.key",
                                       "--token", token)  # one-time
    assert not other.exists()


def test_certificate_with_an_ml_dsa_key(bootstrapped: Client, server: Server, openssl: Callable[..., Any]) -> None:
    """``--kty ML-DSA-44``: the client's key and CSR in ML-DSA, the (classic) CA's ECDSA signature
    over the TBS bytes checked by openssl (OpenSSL 3.0 cannot read the ML-DSA key itself), and the
    key file's signature checked by dilithium-py against the certificate's key."""
    from dilithium_py.ml_dsa import ML_DSA_44

    crt, key = _issue(bootstrapped, server, "pq.example", "--kty", "ML-DSA-44")
    leaf, intermediate = _chain(crt)
    raw = leaf.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    assert ML_DSA_44.verify(raw, b"proof", private.sign(b"proof"))  # type: ignore[call-arg,union-attr]
    (bootstrapped.path / "tbs").write_bytes(leaf.tbs_certificate_bytes)
    (bootstrapped.path / "sig").write_bytes(leaf.signature)
    (bootstrapped.path / "issuer.pem").write_bytes(intermediate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    openssl("dgst", "-sha256", "-verify", bootstrapped.path / "issuer.pem", "-signature", bootstrapped.path / "sig",
            bootstrapped.path / "tbs")


@pytest.mark.hsm
def test_certificate_with_the_key_in_softhsm(bootstrapped: Client, server: Server, softhsm_token: SoftHSMToken,
                                             openssl: Callable[..., Any]) -> None:
    crt = bootstrapped.path / "hsm.crt"
    bootstrapped.ok("ca", "certificate", "hsm.example", crt, "--kms", softhsm_token.kms_uri,
                    "--key-uri", "pkcs11:id=0c;object=leaf", "--provisioner", "admin",
                    "--password-file", server.ca.password_file)
    _openssl_verify(openssl, server, crt)
    public = bootstrapped.ok("kms", "key", "pkcs11:id=0c;object=leaf", "--kms", softhsm_token.kms_uri).stdout
    assert _chain(crt)[0].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode() == public


def test_renew_over_mtls_keeps_the_key(bootstrapped: Client, server: Server, openssl: Callable[..., Any],
                                       tmp_path: Path) -> None:
    crt, key = _issue(bootstrapped, server, "renew.example")
    old = _chain(crt)[0]
    bootstrapped.ok("ca", "renew", crt, key, "--expires-in", "1h")  # 24 h left: nothing to do
    assert _chain(crt)[0] == old
    marker = tmp_path / "hook-ran"
    bootstrapped.ok("ca", "renew", crt, key, "--force", "--exec", f"touch {marker}")
    new = _chain(crt)[0]
    assert new.serial_number != old.serial_number and new.public_key() == old.public_key()
    assert marker.exists()
    _openssl_verify(openssl, server, crt)


def test_renew_asks_before_overwriting(bootstrapped: Client, server: Server) -> None:
    crt, key = _issue(bootstrapped, server, "ask.example")
    before = crt.read_bytes()
    result = bootstrapped.run("ca", "renew", crt, key, input="n\n")
    assert result.exit_code == 1 and crt.read_bytes() == before


def _serial(client: Client, crt: Path) -> str:
    return json.loads(client.ok("certificate", "inspect", crt, "--format", "json").stdout)["serial_number"]


@pytest.mark.parametrize("how", ["token", "mtls"])
def test_revoke_then_renew_is_refused(bootstrapped: Client, server: Server, how: str) -> None:
    crt, key = _issue(bootstrapped, server, f"revoke-{how}.example")
    revocations = server.ca.rows()["revocations"]
    serial = _serial(bootstrapped, crt)
    proof = (["--cert", str(crt), "--key", str(key)] if how == "mtls"
             else ["--provisioner", "admin", "--password-file", str(server.ca.password_file)])
    bootstrapped.ok("ca", "revoke", serial, "--reason", "key compromise", "--reasonCode", "1", *proof)
    assert "revoked" in bootstrapped.fails("ca", "renew", crt, key, "--force")
    assert server.ca.rows()["revocations"] == revocations + 1


def test_revoke_refuses_a_token_for_another_serial(bootstrapped: Client, server: Server) -> None:
    crt, _ = _issue(bootstrapped, server, "other-serial.example")
    token = bootstrapped.ok("ca", "token", "12345", "--revoke", "--provisioner", "admin",
                            "--password-file", server.ca.password_file).stdout.strip()
    assert "401" in bootstrapped.fails("ca", "revoke", _serial(bootstrapped, crt), "--token", token)


def test_provisioner_added_with_the_cli_issues_after_sighup(bootstrapped: Client, server: Server,
                                                           openssl: Callable[..., Any], tmp_path: Path) -> None:
    ca = server.ca
    password = tmp_path / "ops-password"
    password.write_text("ops secret\n")
    bootstrapped.ok("ca", "provisioner", "add", "ops", "--type", "JWK", "--create", "--password-file", password,
                    "--ca-config", ca.ca_json)
    old_workers = _children(server.process.pid)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while old_workers & _children(server.process.pid):  # the old generation still accepts connections
        assert time.monotonic() < deadline, "the server did not reload"
        time.sleep(0.1)
    assert "ops" in _names(bootstrapped, ca.url)
    crt = tmp_path / "ops.crt"
    bootstrapped.ok("ca", "certificate", "ops.example", crt, tmp_path / "ops.key", "--provisioner", "ops",
                    "--password-file", password)
    _openssl_verify(openssl, server, crt)
    assert json.loads(bootstrapped.ok("certificate", "inspect", crt, "--format", "json").stdout)[
        "extensions"]["step_provisioner"]["name"] == "ops"


def _children(pid: int) -> set[str]:
    """The worker processes of the server ``pid`` (not multiprocessing's resource tracker), from procfs."""
    workers = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
        except FileNotFoundError:
            pass  # exited meanwhile
    return workers


def _names(client: Client, url: str) -> list[str]:
    with CaSettings(url, client.root).client() as ca:
        return [p["name"] for p in ca.provisioners()]
