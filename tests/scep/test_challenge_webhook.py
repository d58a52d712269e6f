"""Dynamic SCEP challenges: a SCEPCHALLENGE webhook (a real local HTTPS server that checks
step-ca's HMAC signature) validates the challenge password and the CSR. It allows (its data
reaches the template), denies, times out, is called with a bad signature, or defers: then the
CA answers PENDING and GetCertInitial polls (or the re-sent PKCSReq) ask it again until it
decides; the certificate is issued once. The challenge password is never logged."""

from __future__ import annotations

import base64
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import NameOID

from appliance.errors import BadRequest
from appliance.provisioner.webhooks import WebhookClient
from tests.ca_fixtures import build_ca
from tests.provisioner.test_webhooks import SECRET, WebhookServer, webhook_server  # noqa: F401
from tests.scep.conftest import ScepEnv, add_provisioners, openssl_verify, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient
from tests.scep.test_scepclient import scepclient
from tests.scep.test_openssl_client import post
from tests.scep.test_transactions import IssuerAndSubject

pytestmark = pytest.mark.slow

GOOD, BAD, DEFERRED = "one-time-7f3a91", "guessed-0000", "ask-a-person-5521"
TEMPLATE = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}, '
            '"organizationalUnit": {{ toJson .Webhooks.validator.fleet }}}, "sans": {{ toJson .SANs }}}')


class Validator:
    """What the webhook decides: GOOD allowed (with data), DEFERRED pending until ``decisions``
    has the transaction (True: allow, False: deny), anything else denied."""

    def __init__(self) -> None:
        self.decisions: dict[str, bool] = {}
        self.hold = threading.Event()
        self.holding = False

    def __call__(self, body: dict[str, Any], path: str) -> tuple[int, bytes]:
        if self.holding:
            self.hold.wait(5)
        challenge, transaction = body.get("scepChallenge"), body["scepTransactionID"]
        if challenge == GOOD:
            return 200, b'{"allow": true, "data": {"fleet": "fleet-7"}}'
        if challenge in (DEFERRED, None):
            decision = self.decisions.get(transaction)
            if decision is None:
                return 200, b'{"allow": false, "pending": true}'
            return 200, b'{"allow": true, "data": {"fleet": "approved"}}' if decision else b'{"allow": false}'
        return 200, b'{"allow": false}'


def _env(tmp_path: Path, server: WebhookServer, *, secret: str = SECRET, timeout: float = 5.0) -> ScepEnv:
    ca = build_ca(tmp_path / "ca", intermediate_kind="RSA")
    hook = {"id": "id-validator", "name": "validator", "url": server.url, "kind": "SCEPCHALLENGE", "secret": secret,
            "bearerToken": server.bearer}
    add_provisioners(ca, scep_provisioner(challenge="", options={"x509": {"template": TEMPLATE}, "webhooks": [hook]}))
    env = start_scep(ca)
    env.authority.webhook_client = WebhookClient(timeout=timeout, cafile=server.cafile, sleep=lambda _: None)
    return env


def _enrol(env: ScepEnv, client: OpensslClient, challenge: str, transaction_id: str) -> dict[str, str]:
    message = client.request(env.ca.intermediate_path, challenge, transaction_id=transaction_id)
    return client.read_reply(post(env, message).content, env.ca.root_path)


def _poll_message(env: ScepEnv, client: OpensslClient, transaction_id: str) -> bytes:
    """A GetCertInitial of ``transaction_id``."""
    payload = IssuerAndSubject({"issuer": asn1_x509.Name.load(env.ca.intermediate.subject.public_bytes()),
                                "subject": asn1_x509.Name.build({"common_name": client.cn})}).dump()
    return client.request(env.ca.intermediate_path, "", message_type="20", transaction_id=transaction_id,
                          payload=payload)


def _poll(env: ScepEnv, client: OpensslClient, transaction_id: str) -> dict[str, str]:
    return client.read_reply(post(env, _poll_message(env, client, transaction_id)).content, env.ca.root_path)


def _fleet(reply: dict[str, str]) -> str:
    certificate = x509.load_pem_x509_certificate(Path(reply["certificate"]).read_bytes())
    return str(certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value)


def test_the_webhook_allows_with_data_for_the_template_and_denies(
        webhook_server: WebhookServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    webhook_server.reply = Validator()
    env = _env(tmp_path, webhook_server)
    try:
        client = OpensslClient(tmp_path / "client", cn="laptop-17")
        reply = _enrol(env, client, GOOD, "tx-allowed")
        assert reply["pkiStatus"] == "0" and _fleet(reply) == "fleet-7"
        openssl_verify(env.ca, Path(reply["certificate"]))
        asked = webhook_server.requests[-1]
        assert asked["headers"]["X-Smallstep-Webhook-ID"] == "id-validator"
        body = asked["body"]
        assert body["scepChallenge"] == GOOD and body["scepTransactionID"] == "tx-allowed"
        assert body["provisionerName"] == "scep"
        csr = x509.load_der_x509_csr(base64.b64decode(body["x509CertificateRequest"]["raw"]))
        assert csr.subject.rfc4514_string() == "CN=laptop-17"
        before = env.issued()
        denied = _enrol(env, OpensslClient(tmp_path / "other"), BAD, "tx-denied")
        assert (denied["pkiStatus"], denied["failInfo"]) == ("2", "2")
        assert env.issued() == before
    finally:
        env.close()
    assert GOOD not in caplog.text and BAD not in caplog.text


@pytest.mark.parametrize("case", ["bad signature", "time out"])
def test_a_webhook_that_cannot_answer_fails_closed(webhook_server: WebhookServer, tmp_path: Path,  # noqa: F811
                                                   case: str) -> None:
    validator = Validator()
    webhook_server.reply = validator
    if case == "bad signature":  # the CA signs with another secret: the server refuses it (HTTP 400)
        env = _env(tmp_path, webhook_server, secret=base64.b64encode(b"not the shared secret").decode())
    else:  # the server holds its answer past the client's (short) timeout
        validator.holding = True
        env = _env(tmp_path, webhook_server, timeout=0.3)
    try:
        client = OpensslClient(tmp_path / "client")
        response = post(env, client.request(env.ca.intermediate_path, GOOD, transaction_id="tx-unanswered"))
        assert response.status_code == 503  # the CA cannot decide: the client retries later
        assert env.issued() == 0
        validator.holding = False
        validator.hold.set()
        if case == "time out":  # the transaction was not left open: the retry is decided
            assert _enrol(env, client, GOOD, "tx-unanswered")["pkiStatus"] == "0"
    finally:
        validator.hold.set()
        env.close()


def test_a_deferred_challenge_is_pending_until_approved_and_issues_once(
        webhook_server: WebhookServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    validator = Validator()
    webhook_server.reply = validator
    env = _env(tmp_path, webhook_server)
    try:
        client = OpensslClient(tmp_path / "client", cn="printer-3")
        first = _enrol(env, client, DEFERRED, "tx-deferred")
        assert (first["pkiStatus"], first["transactionID"]) == ("3", "tx-deferred")  # PENDING
        assert _poll(env, client, "tx-deferred")["pkiStatus"] == "3"
        again = webhook_server.requests[-1]["body"]  # a poll asks again, without the password
        assert "scepChallenge" not in again and again["scepTransactionID"] == "tx-deferred"
        assert env.issued() == 0
        validator.decisions["tx-deferred"] = True
        polls = [_poll_message(env, client, "tx-deferred") for _ in range(4)]
        with ThreadPoolExecutor(4) as pool:  # concurrent polls: one takes the transaction and issues
            answers = list(pool.map(lambda message: post(env, message).content, polls))
        statuses = [client.read_reply(answer, env.ca.root_path)["pkiStatus"] for answer in answers]
        assert "0" in statuses and set(statuses) <= {"0", "3"}
        assert env.issued() == 1
        asked = len(webhook_server.requests)
        approved = _poll(env, client, "tx-deferred")
        assert approved["pkiStatus"] == "0" and _fleet(approved) == "approved"
        openssl_verify(env.ca, Path(approved["certificate"]))
        serial = x509.load_pem_x509_certificate(Path(approved["certificate"]).read_bytes()).serial_number
        resent = _enrol(env, client, DEFERRED, "tx-deferred")  # the PKCSReq again: the same certificate
        assert x509.load_pem_x509_certificate(Path(resent["certificate"]).read_bytes()).serial_number == serial
        assert len(webhook_server.requests) == asked and env.issued() == 1
    finally:
        env.close()
    assert DEFERRED not in caplog.text


def test_a_deferred_challenge_denied_fails_every_later_poll(webhook_server: WebhookServer,  # noqa: F811
                                                            tmp_path: Path) -> None:
    validator = Validator()
    webhook_server.reply = validator
    env = _env(tmp_path, webhook_server)
    try:
        client = OpensslClient(tmp_path / "client")
        assert _enrol(env, client, DEFERRED, "tx-refused")["pkiStatus"] == "3"
        validator.decisions["tx-refused"] = False
        denied = _poll(env, client, "tx-refused")
        assert (denied["pkiStatus"], denied["failInfo"]) == ("2", "2")
        asked = len(webhook_server.requests)
        validator.decisions["tx-refused"] = True  # too late: a denial is final
        assert _poll(env, client, "tx-refused")["failInfo"] == "2"
        assert _enrol(env, client, DEFERRED, "tx-refused")["failInfo"] == "2"
        assert len(webhook_server.requests) == asked and env.issued() == 0
    finally:
        env.close()


def test_a_static_challenge_beside_a_challenge_webhook_stops_the_ca(tmp_path: Path) -> None:
    """step-ca would silently ignore the static challenge; here the CA names the conflict."""
    ca = build_ca(tmp_path / "ca", intermediate_kind="RSA")
    hook = {"name": "validator", "url": "https://127.0.0.1:1/", "kind": "SCEPCHALLENGE"}
    add_provisioners(ca, scep_provisioner(options={"webhooks": [hook]}))
    with pytest.raises(BadRequest, match="either a 'challenge' or SCEPCHALLENGE webhooks"):
        start_scep(ca)


def test_scepclient_polls_a_deferred_challenge_until_it_is_approved(webhook_server: WebhookServer,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    """scepclient re-sends its PKCSReq 30 s after a PENDING (its own sleep, the one wall-clock
    wait of these tests): the webhook, asked again, approves, and the certificate is issued."""
    validator = Validator()

    def approve_when_asked_again(body: dict[str, Any], path: str) -> tuple[int, bytes]:
        answer = validator(body, path)
        validator.decisions[body["scepTransactionID"]] = True
        return answer

    webhook_server.reply = approve_when_asked_again
    env = _env(tmp_path, webhook_server)
    try:
        work = tmp_path / "scepclient"
        result = scepclient(env.url(), work, DEFERRED, "kiosk-9")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "PENDING" in result.stdout + result.stderr
        openssl_verify(env.ca, work / "cert.pem")
        bodies = [request["body"] for request in webhook_server.requests]
        assert len(bodies) == 2 and bodies[0]["scepChallenge"] == DEFERRED and "scepChallenge" not in bodies[1]
        assert env.issued() == 1
    finally:
        env.close()
