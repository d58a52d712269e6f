"""SIGHUP: a new provisioner is picked up, a broken ca.json is refused while the
old configuration keeps serving; the CRL on the plain-HTTP insecureAddress."""

from __future__ import annotations

import datetime
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from cryptography import x509

from appliance.jose import encrypt_jwk, generate_jwk, public_dict
from appliance.pki.clock import utc_now
from tests.e2e.harness import CA, PASSWORD, Server, csr_pem, free_port, init_ca, new_key, running_server, token

pytestmark = pytest.mark.slow
RELOAD_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def reloadable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ca = init_ca(tmp_path_factory.mktemp("reload"))
    data = ca.data()
    data["insecureAddress"] = f"127.0.0.1:{free_port()}"
    ca.write(data)
    with running_server(ca) as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def serving_since(reloadable: Server) -> datetime.datetime:
    """A moment when the CA was already serving (no earlier than its start), taken
    before the module's first test."""
    return utc_now()


def _provisioner_names(ca: CA) -> list[str]:
    with ca.client() as client:
        return [p["name"] for p in client.get("/provisioners").json()["provisioners"]]


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the server did not reload in time"
        time.sleep(0.1)


def test_sighup_picks_up_a_new_provisioner(reloadable: Server) -> None:
    ca = reloadable.ca
    assert _provisioner_names(ca) == ["admin"]
    key = generate_jwk()
    data = ca.data()
    data["authority"]["provisioners"].append({"type": "JWK", "name": "ops", "key": public_dict(key),
                                              "encryptedKey": encrypt_jwk(key, PASSWORD.encode())})
    ca.write(data)
    reloads = reloadable.log().count("reloaded")
    reloadable.signal(signal.SIGHUP)
    _wait_for(lambda: reloadable.log().count("reloaded") > reloads)  # once the old workers stopped accepting
    assert _provisioner_names(ca) == ["admin", "ops"]
    with ca.client() as client:
        response = client.post("/sign", json={"csr": csr_pem("ops.example", new_key()),
                                              "ott": token(ca, "ops.example", provisioner="ops")})
    assert response.status_code == 201, response.text
    assert "reloaded" in reloadable.log()


def _workers(server: Server) -> set[str]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    pid = server.process.pid
    workers = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
        except FileNotFoundError:  # a retired worker that has just exited
            pass
    return workers


def test_tokens_issued_before_a_reload_are_accepted_by_the_new_workers(reloadable: Server,
                                                                      serving_since: datetime.datetime) -> None:
    """The CA's start (tokens issued before it are refused) is the supervisor's, not
    each worker's: a reload starts new workers, not a new CA. The tokens are dated
    from when the CA was first serving (the test before this one reloads, so the
    new workers start seconds later), not from now: no waiting for a later second."""
    ca = reloadable.ca
    names = [f"pre-reload-{index}.example" for index in range(4)]
    tokens = [token(ca, name, issued=serving_since) for name in names]
    old_workers = _workers(reloadable)
    reloadable.signal(signal.SIGHUP)
    _wait_for(lambda: not _workers(reloadable) & old_workers and len(_workers(reloadable)) == 2)
    for name, ott in zip(names, tokens):
        with ca.client() as client:  # a new connection each: both new workers serve some
            response = client.post("/sign", json={"csr": csr_pem(name, new_key()), "ott": ott})
        assert response.status_code == 201, response.text


def test_broken_config_is_refused_and_the_old_one_keeps_serving(reloadable: Server) -> None:
    ca = reloadable.ca
    good = ca.ca_json.read_text()
    names = _provisioner_names(ca)
    ott = token(ca, "still.example")
    ca.ca_json.write_text('{"root": ')
    try:
        reloadable.signal(signal.SIGHUP)
        _wait_for(lambda: "reload failed" in reloadable.log())
        assert _provisioner_names(ca) == names
        with ca.client() as client:
            response = client.post("/sign", json={"csr": csr_pem("still.example", new_key()),
                                                  "ott": ott})
        assert response.status_code == 201
    finally:
        ca.ca_json.write_text(good)


def test_crl_on_the_insecure_address(reloadable: Server, work: Path, openssl: Callable[..., Any]) -> None:
    ca = reloadable.ca
    with ca.client() as client:
        issued = client.post("/sign", json={"csr": csr_pem("crl.example", new_key()),
                                            "ott": token(ca, "crl.example")}).json()
        serial = str(x509.load_pem_x509_certificate(issued["crt"].encode()).serial_number)
        revoked = client.post("/revoke", json={"serial": serial, "ott": token(ca, serial, endpoint="revoke"),
                                               "passive": True, "reasonCode": 1})
        assert revoked.status_code == 200, revoked.text
    insecure = ca.data()["insecureAddress"]
    response = httpx.get(f"http://{insecure}/1.0/crl", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
    crl = work / "ca.crl"
    crl.write_bytes(response.content)
    text = openssl("crl", "-inform", "DER", "-in", crl, "-CAfile", ca.intermediate, "-noout", "-text").stdout
    assert format(int(serial), "X").upper() in text.replace(":", "").upper()
    assert httpx.get(f"http://{insecure}/roots", timeout=10).status_code == 404
