"""``appliance migrate step-ca`` against a real step-ca 0.19 (built from Debian's source by
scripts/build-step-ca.sh) on PostgreSQL and on MariaDB. step-ca issues X.509 and SSH certificates
for JWK one-time tokens and revokes one of each, writes its remote-management provisioner and
super-admin, issues lego a certificate over ACME and binds an EAB key to a second lego account.
After the migration the appliance, on the same root, intermediate, provisioners and address,
refuses to renew the revoked certificate (and to certify its compromised key), renews the others
(mTLS with curl, checked with openssl), lists the SSH revocation in its KRL (ssh-keygen), lets lego
revoke its certificate with its step-ca account, registers certbot with the free EAB key and not
with the bound one, finds the certificates in its inventory and keeps step-ca's spent tokens spent.
A second run imports nothing; a run stopped by a corrupt row leaves the target unchanged."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat, SSHCertificate,
                                                          load_ssh_public_identity)
from sqlalchemy import create_engine, text

from appliance.cli.main import cli
from appliance.console.read_model import CertificateFilter, ReadModel
from appliance.db import open_database
from appliance.db.engine import database_url
from appliance.db.stepca_source import source_url
from appliance.jose import decrypt_jwk, key_from_dict, public_dict, sign
from appliance.jose.b64 import b64decode
from tests.db.conftest import DbConfigFactory, mysql_config, postgres_config  # noqa: F401 (fixtures)
from tests.e2e.acme.clients import CERTBOT
from tests.e2e.harness import CA, csr_pem, init_ca, new_key, start_server, token, write_pem

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE_TABLES = ("certificates", "revocations", "used_tokens", "certificate_names")


@pytest.fixture(scope="session")
def step_ca_binary() -> Path:
    """step-ca 0.19, built once and cached under .cache/step-ca/ (scripts/install.sh --test builds it too)."""
    built = subprocess.run([str(ROOT / "scripts" / "build-step-ca.sh")], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip())


@contextlib.contextmanager
def running_step_ca(binary: Path, ca: CA) -> Iterator[subprocess.Popen[bytes]]:
    log = ca.path / f"step-ca-{uuid.uuid4().hex[:8]}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(binary), str(ca.ca_json), str(ca.password_file)], stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError), ca.client() as client:
                if client.get("/health").status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def _dsn(db: dict[str, Any]) -> str:
    """The step-ca database as ``--from`` takes it (the DSN with the database in it)."""
    return f"{db['dataSource']}{db['database']}"


def _migrate(ca: CA, db: dict[str, Any]) -> Result:
    """``appliance migrate step-ca`` (in this process: the command as the CLI runs it, without a
    second interpreter's start-up)."""
    return CliRunner().invoke(cli, ["migrate", "step-ca", "--from", _dsn(db), "--ca-config", str(ca.ca_json)])


def _counts(db: dict[str, Any]) -> dict[str, int]:
    engine = create_engine(database_url(db))
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in APPLIANCE_TABLES}
    finally:
        engine.dispose()


def _source_exec(db: dict[str, Any], statement: str, **params: Any) -> None:
    engine = create_engine(source_url(_dsn(db)))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _curl_renew(ca: CA, crt: Path, key: Path) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", str(ca.root), "--cert", str(crt),
                             "--key", str(key), "-X", "POST", "-w", "\n%{http_code}", f"{ca.url}/1.0/renew"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def _lego(ca: CA, directory: Path, *command: str, provisioner: str = "acme", binding: tuple[str, ...] = ()) -> None:
    """lego for ``localhost`` with its own http-01 server on port 80, where step-ca 0.19 validates."""
    result = subprocess.run(
        ["lego", "--server", f"{ca.url}/acme/{provisioner}/directory", "--accept-tos", "--email", "admin@example.org",
         "--path", str(directory), *binding, "--domains", "localhost", "--http", "--http.port", "127.0.0.1:80",
         *command],
        capture_output=True, text=True, timeout=120, env={**os.environ, "LEGO_CA_CERTIFICATES": str(ca.root)})
    assert result.returncode == 0, result.stdout + result.stderr


def _ssh_sign(client: httpx.Client, ca: CA, principal: str, directory: Path) -> Path:
    """A user certificate from step-ca for a new Ed25519 key (``step ssh certificate``'s request); its file."""
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    ssh = {"certType": "user", "keyID": principal, "principals": [principal]}
    response = client.post("/1.0/ssh/sign", json={
        "publicKey": public.split()[1].decode(), "ott": _ssh_token(ca, principal, ssh), **ssh})
    assert response.status_code == 201, response.text
    path = directory / f"{principal}-cert.pub"
    path.write_text(f"ssh-ed25519-cert-v01@openssh.com {response.json()['crt']}\n")
    return path


def _ssh_token(ca: CA, subject: str, ssh: dict[str, Any]) -> str:
    now = int(time.time())
    return sign({"iss": "admin", "aud": f"{ca.url}/1.0/ssh/sign", "sub": subject, "iat": now, "nbf": now,
                 "exp": now + 300, "jti": uuid.uuid4().hex, "sha": ca.fingerprint, "step": {"ssh": ssh}},
                ca.provisioner_key("admin"))


def _ssh_serial(path: Path) -> str:
    certificate = load_ssh_public_identity(path.read_bytes())
    assert isinstance(certificate, SSHCertificate)
    return str(certificate.serial)


def _step_ca_eab(binary: Path, ca: CA, reference: str) -> dict[str, str]:
    """An EAB key in step-ca's database for its ca.json ACME provisioners (step-ca 0.19 gives those no id: it
    looks their keys up under "")."""
    made = subprocess.run([str(binary), "eab", str(ca.ca_json), "", reference], capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return dict(json.loads(made.stdout))


def _certbot_register(ca: CA, directory: Path, eab: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``certbot register`` with an EAB key on the ``acme-eab`` provisioner."""
    return subprocess.run(
        [str(CERTBOT), "register", "--server", f"{ca.url}/acme/acme-eab/directory", "--agree-tos",
         "--register-unsafely-without-email", f"--eab-kid={eab['id']}", f"--eab-hmac-key={eab['key']}",
         "--config-dir", str(directory / "config"), "--work-dir", str(directory / "work"),
         "--logs-dir", str(directory / "logs"), "--non-interactive"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "REQUESTS_CA_BUNDLE": str(ca.root)})


def _check_remote_management(db: dict[str, Any], ca: CA) -> None:
    """step-ca's first provisioner is a JWK one in ca.json's form, its encrypted key opening with the
    CA's password to the public key beside it; its super-admin is bound to it."""
    engine = create_engine(database_url(db))
    try:
        with engine.connect() as conn:
            (provisioner,) = conn.execute(text("SELECT id, name, type, details FROM provisioners")).all()
            (admin,) = conn.execute(text("SELECT provisioner_id, subject, type FROM admins")).all()
            changes = conn.execute(text("SELECT actor, kind FROM admin_changes ORDER BY id")).all()
    finally:
        engine.dispose()
    details = provisioner.details if isinstance(provisioner.details, dict) else json.loads(provisioner.details)
    assert (provisioner.name, provisioner.type, details["type"], details["name"]) == ("Admin JWK", "JWK", "JWK",
                                                                                      "Admin JWK")
    private = decrypt_jwk(details["encryptedKey"], ca.password_file.read_text().strip().encode())
    assert public_dict(private) == public_dict(key_from_dict(details["key"]))
    assert tuple(admin) == (provisioner.id, "step", "SUPER_ADMIN")
    assert [tuple(c) for c in changes] == [("migrate step-ca", "provisioner"), ("migrate step-ca", "admin")]


@pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres),
                                    pytest.param("mysql", marks=pytest.mark.mysql)])
def test_step_ca_data_carries_over(engine: str, request: pytest.FixtureRequest, step_ca_binary: Path,
                                   tmp_path: Path, openssl: Callable[..., Any]) -> None:
    new_database: DbConfigFactory = request.getfixturevalue(f"{engine}_config")
    appliance_ca = init_ca(tmp_path / "appliance", "--ssh")
    step_db, target_db = new_database(), new_database()
    # step-ca: the same ca.json (root, intermediate, JWK provisioner, address: the same token
    # audiences), its own database; the appliance starts there once step-ca has stopped
    step_ca = CA(appliance_ca.path, appliance_ca.port, appliance_ca.password_file, "step-ca.json")
    appliance_ca.write({**appliance_ca.data(), "authority": {**appliance_ca.data()["authority"], "provisioners": [
        *appliance_ca.data()["authority"]["provisioners"], {"type": "ACME", "name": "acme"},
        {"type": "ACME", "name": "acme-eab", "requireEAB": True}]}})
    step_config = appliance_ca.data()
    step_config.pop("crl", None)
    step_config["db"] = step_db
    # first with remote management, which writes its first provisioner ("Admin JWK", a new key
    # encrypted with the CA's password) and super-admin ("step") into the database; then without
    step_ca.write({**step_config, "authority": {**step_config["authority"], "enableAdmin": True}})
    with running_step_ca(step_ca_binary, step_ca):
        pass
    step_ca.write(step_config)

    issued: dict[str, tuple[x509.Certificate, Path, Path]] = {}
    spent = []
    keys: dict[str, Any] = {}
    with running_step_ca(step_ca_binary, step_ca), step_ca.client() as client:
        for name in ("web1.example", "web2.example", "web3.example"):
            key = new_key()
            ott = token(step_ca, name, [name])
            spent.append(ott)
            response = client.post("/1.0/sign", json={"csr": csr_pem(name, key, (name,)), "ott": ott})
            assert response.status_code == 201, response.text
            certificate = x509.load_pem_x509_certificate(response.json()["crt"].encode())
            crt = write_pem(tmp_path / f"{name}.crt", certificate)
            issued[name] = (certificate, crt, write_pem(tmp_path / f"{name}.key", key))
            keys[name] = key
        revoked = issued["web2.example"][0]
        serial = str(revoked.serial_number)
        revoke = client.post("/1.0/revoke", json={
            "serial": serial, "ott": token(step_ca, serial, [serial], endpoint="revoke"), "reasonCode": 1,
            "reason": "key left on a laptop", "passive": True})
        assert revoke.status_code == 200, revoke.text
        ssh_certificates = [_ssh_sign(client, step_ca, principal, tmp_path) for principal in ("alice", "bob")]
        ssh_serial = _ssh_serial(ssh_certificates[1])
        revoke = client.post("/1.0/ssh/revoke", json={
            "serial": ssh_serial, "ott": token(step_ca, ssh_serial, [ssh_serial], endpoint="ssh/revoke"),
            "reasonCode": 1, "reason": "laptop stolen", "passive": True})
        assert revoke.status_code == 200, revoke.text
    # two EAB keys, written by step-ca's own code: lego binds one on step-ca, the other stays free
    bound, spare = (_step_ca_eab(step_ca_binary, step_ca, reference) for reference in ("lego", "spare"))
    with running_step_ca(step_ca_binary, step_ca):  # lego's accounts, order and certificate
        _lego(step_ca, tmp_path / "lego", "run")
        _lego(step_ca, tmp_path / "lego-eab", "run", provisioner="acme-eab",
              binding=("--eab", "--kid", bound["id"], "--hmac", bound["key"]))

    appliance_ca.write({**appliance_ca.data(), "db": target_db})

    # a corrupt row, met after the certificates were written: the run fails, the target is unchanged
    _source_exec(step_db, "INSERT INTO revoked_x509_certs (nkey, nvalue) VALUES (:k, :v)",
                 k=b"9999", v=b"{not json")
    failed = _migrate(appliance_ca, step_db)
    assert failed.exit_code == 1, failed.output
    assert "revoked_x509_certs/9999 cannot be read" in failed.stderr
    assert _counts(target_db) == dict.fromkeys(APPLIANCE_TABLES, 0)
    _source_exec(step_db, "DELETE FROM revoked_x509_certs WHERE nkey = :k", k=b"9999")

    first = _migrate(appliance_ca, step_db)
    assert first.exit_code == 0, first.output
    assert "certificates: 5 imported, 0 already present" in first.stdout
    assert "revocations: 1 imported" in first.stdout
    assert "used tokens: 7 imported" in first.stdout  # the sign and revoke tokens, X.509 and SSH
    for kind in ("ACME accounts", "ACME orders", "ACME certificates", "ACME EAB keys", "SSH revocations"):
        count = 2 if kind in ("ACME accounts", "ACME orders", "ACME certificates", "ACME EAB keys") else 1
        assert f"{kind}: {count} imported" in first.output, first.output
    second = _migrate(appliance_ca, step_db)
    assert second.exit_code == 0, second.output
    assert "certificates: 0 imported, 5 already present" in second.stdout
    assert "0 records imported" in second.stdout
    assert "SSH certificates: 2 imported" in first.stdout
    assert "provisioners: 1 imported" in first.stdout and "admins: 1 imported" in first.stdout
    counts = _counts(target_db)
    assert counts["certificates"] == 5 and counts["revocations"] == 1 and counts["used_tokens"] == 7
    _check_remote_management(target_db, appliance_ca)

    server = start_server(appliance_ca)
    try:
        status, body = _curl_renew(appliance_ca, issued["web2.example"][1], issued["web2.example"][2])
        assert status == 401, body
        for name in ("web1.example", "web3.example"):
            certificate, crt, key_path = issued[name]
            status, body = _curl_renew(appliance_ca, crt, key_path)
            assert status == 201, body
            renewed = write_pem(tmp_path / f"{name}.renewed.crt", body["crt"])
            openssl("verify", "-CAfile", appliance_ca.root, "-untrusted", appliance_ca.intermediate, renewed)
            assert x509.load_pem_x509_certificate(body["crt"].encode()).subject == certificate.subject
        # lego revokes the certificate step-ca issued to it, signing with the account it registered there:
        # the appliance knows the account's key and that the certificate is the account's
        _lego(appliance_ca, tmp_path / "lego", "revoke", "--keep", "--reason", "4")
        with appliance_ca.client() as client:  # revoked for keyCompromise on step-ca: its key is blocked here
            reused = client.post("/1.0/sign", json={"csr": csr_pem("web2.example", keys["web2.example"],
                                                                    ("web2.example",)),
                                                     "ott": token(appliance_ca, "web2.example", ["web2.example"])})
        assert reused.status_code == 403 and "compromised" in reused.text, reused.text
        # the free EAB key registers an account here; the one lego bound on step-ca is bound here too
        assert _certbot_register(appliance_ca, tmp_path / "certbot-spare", spare).returncode == 0
        reused_binding = _certbot_register(appliance_ca, tmp_path / "certbot-bound", bound)
        assert reused_binding.returncode != 0 and "bound" in reused_binding.stderr, reused_binding.stderr
        # the KRL lists the SSH certificate step-ca revoked, not the other (ssh-keygen reads it)
        with appliance_ca.client() as client:
            krl = client.get("/ssh/krl")
        assert krl.status_code == 200
        (tmp_path / "krl").write_bytes(krl.content)
        queried = [subprocess.run(["ssh-keygen", "-Q", "-f", str(tmp_path / "krl"), str(path)], capture_output=True,
                                  text=True) for path in ssh_certificates]
        assert [q.returncode for q in queried] == [0, 1], [q.stdout for q in queried]
        assert "REVOKED" in queried[1].stdout
    finally:
        server.stop()

    # the tokens step-ca spent stay spent: the store the authority asks refuses their ids (over HTTP a
    # replay is refused earlier anyway: a token issued before the CA started is not accepted)
    database = open_database(target_db)
    try:
        for ott in spent:
            jti = json.loads(b64decode(ott.split(".")[1]))["jti"]
            assert not database.use_token(jti, "admin", datetime.datetime.now(datetime.timezone.utc))
    finally:
        database.close()

    # the inventory: found by name, with step-ca's provisioner and the revocation
    inventory = create_engine(database_url(target_db))
    try:
        now = datetime.datetime.now(datetime.timezone.utc)
        model = ReadModel(inventory)
        found = model.certificates(CertificateFilter(query="web2.example"), now).rows
        assert [(r.serial, r.provisioner, r.status(now)) for r in found] == [(serial, "admin", "revoked")]
        imported = {r.serial for r in model.certificates(CertificateFilter(query="web"), now).rows}
        assert {str(c.serial_number) for c, _, _ in issued.values()} <= imported
        with inventory.connect() as conn:
            row = conn.execute(text("SELECT reason_code, reason FROM revocations WHERE serial = :s"), {"s": serial}).one()
            (account,) = conn.execute(text("SELECT id FROM acme_accounts WHERE provisioner = 'acme'")).all()
            (order,) = conn.execute(text("SELECT account_id, status, certificate_id FROM acme_orders "
                                         "WHERE provisioner = 'acme'")).all()
            eab_accounts = conn.execute(text("SELECT key_id, account_id FROM acme_eab_keys")).all()
            (acme_serial,) = conn.execute(text("SELECT serial FROM acme_certificates WHERE account_id = :a"),
                                          {"a": account.id}).one()
            acme_revoked = conn.execute(text("SELECT reason_code FROM revocations WHERE serial = :s"),
                                        {"s": acme_serial}).scalar_one()
        assert tuple(row) == (1, "key left on a laptop")
        assert (order.account_id, order.status) == (account.id, "valid") and order.certificate_id
        assert acme_revoked == 4
        assert all(account_id for _, account_id in eab_accounts) and len({a for _, a in eab_accounts}) == 2
    finally:
        inventory.dispose()
