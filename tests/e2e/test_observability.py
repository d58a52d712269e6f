"""A running CA (two workers) watched as an operator would: its /metrics on
metricsAddress checked by ``promtool`` and scraped by the real Prometheus server;
its audit log proved by ``appliance audit verify`` (checkpoints signed by a softkms
key), exported as JSON lines, and free of every secret the requests carried."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import APPLIANCE
from tests.e2e.harness import CA, PASSWORD, Server, csr_pem, free_port, init_ca, new_key, renew_token, start_server, token

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CA, Server, int]]:
    ca = init_ca(tmp_path_factory.mktemp("observed"))
    key_path = ca.path / "secrets" / "audit.key"
    key_path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    metrics_port = free_port()
    data = ca.data()
    data["metricsAddress"] = f"127.0.0.1:{metrics_port}"
    data["audit"] = {"checkpointKey": f"softkms:path={key_path}", "checkpointEvery": 2}
    data["logger"] = {"format": "json"}
    ca.write(data)
    server = start_server(ca, workers=2)
    try:
        yield ca, server, metrics_port
    finally:
        server.stop()


def _scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _sign(ca: CA, name: str, ott: str) -> httpx.Response:
    with ca.client() as client:
        return client.post("/1.0/sign", json={"csr": csr_pem(name, new_key()), "ott": ott},
                           headers={"X-Request-Id": f"req-{name}"})


def _requests(ca: CA) -> list[str]:
    """Issue two certificates, replay a token, renew one, revoke one: the secrets the requests carried."""
    secrets = [PASSWORD]
    first, key = token(ca, "one.example"), new_key()
    secrets.append(first)
    with ca.client() as client:
        signed = client.post("/1.0/sign", json={"csr": csr_pem("one.example", key), "ott": first})
    assert signed.status_code == 201
    bearer = renew_token(ca, x509.load_pem_x509_certificate(signed.json()["crt"].encode()), key)
    secrets.append(bearer)
    with ca.client() as client:
        assert client.post("/1.0/renew", headers={"Authorization": f"Bearer {bearer}"}).status_code == 201
    assert _sign(ca, "one.example", first).status_code == 401  # a replay
    second = token(ca, "two.example")
    secrets.append(second)
    issued = _sign(ca, "two.example", second)
    assert issued.status_code == 201 and issued.headers["x-request-id"] == "req-two.example"
    serial = str(x509.load_pem_x509_certificate(issued.json()["crt"].encode()).serial_number)
    revoke = token(ca, serial, endpoint="revoke")
    secrets.append(revoke)
    with ca.client() as client:
        answer = client.post("/1.0/revoke", json={"serial": serial, "ott": revoke, "reasonCode": 4,
                                                   "reason": "superseded", "passive": True})
    assert answer.status_code == 200, answer.text
    return secrets


def test_metrics_count_requests_and_pass_promtool(observed: tuple[CA, Server, int], tmp_path: Path) -> None:
    ca, _, port = observed
    before = _scrape(port)
    secrets = _requests(ca)
    after = _scrape(port)
    sign_ok = dict(route="/sign", method="POST", status="201")
    assert _value(after, "appliance_http_requests_total", **sign_ok) - \
        _value(before, "appliance_http_requests_total", **sign_ok) == 2
    issued = dict(provisioner="admin", type="sign", outcome="issued")
    assert _value(after, "appliance_issuance_total", **issued) - _value(before, "appliance_issuance_total", **issued) == 2
    refused = dict(provisioner="admin", type="sign", outcome="refused")
    assert _value(after, "appliance_issuance_total", **refused) == _value(before, "appliance_issuance_total", **refused) + 1
    replays = dict(provisioner="admin")
    assert _value(after, "appliance_token_replays_refused_total", **replays) - \
        _value(before, "appliance_token_replays_refused_total", **replays) == 1
    assert _value(after, "appliance_issuance_duration_seconds_count", type="sign") >= 3
    assert _value(after, "appliance_revocations_total", provisioner="admin") - \
        _value(before, "appliance_revocations_total", provisioner="admin") == 1
    assert _value(after, "appliance_db_queries_total", engine="sqlite", outcome="ok") > \
        _value(before, "appliance_db_queries_total", engine="sqlite", outcome="ok")
    renewed = dict(provisioner="admin", type="renew", outcome="issued")
    assert _value(after, "appliance_issuance_total", **renewed) - _value(before, "appliance_issuance_total", **renewed) == 1
    # two more certificates expiring within 24 h: one.example and its renewal (two.example is revoked)
    assert _value(after, "appliance_certificates_expiring", within="24h") == \
        _value(before, "appliance_certificates_expiring", within="24h") + 2
    assert _value(after, "appliance_inventory_up") == 1
    assert _value(after, "appliance_audit_chain_length") > _value(before, "appliance_audit_chain_length")
    assert not any(secret in after for secret in secrets)
    exposition = tmp_path / "metrics.txt"
    exposition.write_text(after)
    check = subprocess.run(["promtool", "check", "metrics"], stdin=exposition.open("rb"), capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed")
def test_the_prometheus_server_scrapes_it(observed: tuple[CA, Server, int], tmp_path: Path) -> None:
    ca, _, port = observed
    web = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: appliance\n"
                      f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        query = urllib.parse.quote('sum(appliance_http_requests_total{route="/health"})')
        deadline, found = time.monotonic() + 60, []
        while time.monotonic() < deadline and not found:  # an external server's readiness: polled with a deadline
            with ca.client() as client:
                client.get("/health")
            try:
                answer = httpx.get(f"http://127.0.0.1:{web}/api/v1/query?query={query}", timeout=5).json()
                found = answer["data"]["result"]
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        assert found and float(found[0]["value"][1]) >= 1
        targets = httpx.get(f"http://127.0.0.1:{web}/api/v1/targets", timeout=5).json()
        assert [t["health"] for t in targets["data"]["activeTargets"]] == ["up"]
    finally:
        process.terminate()
        process.wait(30)


def test_audit_verifies_exports_and_holds_no_secret(observed: tuple[CA, Server, int], tmp_path: Path) -> None:
    ca, server, _ = observed
    secrets = _requests(ca)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while "reloaded" not in server.log() and time.monotonic() < deadline:  # a new generation of workers starts
        time.sleep(0.1)
    verify = subprocess.run([str(APPLIANCE), "audit", "verify", str(ca.ca_json), "--password-file",
                             str(ca.password_file)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("ok:") and "signatures checked" in verify.stdout
    export = subprocess.run([str(APPLIANCE), "audit", "export", str(ca.ca_json), "--format", "jsonl"],
                            capture_output=True, text=True, timeout=60, check=True)
    records = [json.loads(line) for line in export.stdout.splitlines()]
    events = {record["event"] for record in records}
    assert {"server.issued", "sign.issued", "sign.refused", "renew.issued", "revoke.done", "config.reloaded"} <= events
    refused = [r for r in records if r["event"] == "sign.refused"]
    assert refused[-1]["data"]["reason"] == "token already used"
    everything = export.stdout + "".join(str(row) for row in ca.query("SELECT * FROM audit_records"))
    for secret in secrets:
        assert secret not in everything
    assert "PRIVATE KEY" not in everything and "eyJ" not in everything
    # a record edited behind the log's back is found
    database = sqlite3.connect(ca.data()["db"]["dataSource"])
    with database:
        database.execute("UPDATE audit_records SET data = replace(data, 'superseded', 'unspecified')")
    database.close()
    tampered = subprocess.run([str(APPLIANCE), "audit", "verify", str(ca.ca_json), "--password-file",
                               str(ca.password_file)], capture_output=True, text=True, timeout=60)
    assert tampered.returncode == 1 and "(edited)" in tampered.stdout
    for line in server.log().splitlines():  # logger.format json: every line the server wrote
        if line.strip():
            assert json.loads(line)["level"], line
