"""Provisioner webhooks against a real local HTTPS webhook server that checks step-ca's
HMAC signature, webhook id and authorisation header, and answers step-ca's JSON."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from starlette.testclient import TestClient

from appliance.api import create_app
from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.authority.webhooks import notify
from appliance.db import open_database
from appliance.db.schema import certificates
from appliance.errors import BadRequest, ErrorKind
from appliance.provisioner.webhooks import WebhookClient, WebhookDenied, WebhookUnavailable
from tests.ca_fixtures import TestCA, build_ca, make_csr, new_key

pytestmark = pytest.mark.slow

SECRET = base64.b64encode(b"s3cret-webhook-signing-key").decode()
Reply = Callable[[dict[str, Any], str], tuple[int, bytes]]


@dataclass
class WebhookServer:
    """An HTTPS server answering with ``reply``; it checks what step-ca's webhook servers check."""

    url: str
    cafile: str
    tls: ssl.SSLContext
    reply: Reply = lambda body, path: (200, b'{"allow": true}')  # noqa: E731
    secret: str = SECRET
    #: The bearer token it wants; ``""``: it wants no Authorization header.
    bearer: str = "tok3n"
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _server_certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "webhook.crt", tmp / "webhook.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def webhook_server(tmp_path: Path) -> Iterator[WebhookServer]:
    cert_path, key_path = _server_certificate(tmp_path)
    state: dict[str, WebhookServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            server = state["server"]
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            wanted = hmac.new(base64.b64decode(server.secret), raw, hashlib.sha256).hexdigest()
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            record = {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw), "peer": peer}
            server.requests.append(record)
            if self.headers.get("Authorization") != (f"Bearer {server.bearer}" if server.bearer else None):
                return self._answer(401, b"Unauthorized")
            if not hmac.compare_digest(self.headers.get("X-Smallstep-Signature", ""), wanted):
                return self._answer(400, b"Invalid signature")
            if record["body"].get("block"):
                server.release.wait(5)
            status, answer = server.reply(record["body"], self.path)
            self._answer(status, answer)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server_context.load_verify_locations(cert_path)
    server_context.verify_mode = ssl.CERT_OPTIONAL
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    state["server"] = WebhookServer(url=f"https://127.0.0.1:{httpd.server_address[1]}", cafile=str(cert_path),
                                    tls=server_context)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state["server"]
    state["server"].release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[Authority, TestCA, list[float]]]]:
    opened: list[Authority] = []

    def build(server: WebhookServer, hooks: list[dict[str, Any]], template: str | None = None,
              timeout: float = 5.0) -> tuple[Authority, TestCA, list[float]]:
        provisioner: dict[str, Any] = {"options": {"webhooks": hooks}}
        if template is not None:
            provisioner["options"]["x509"] = {"template": template}
        ca = build_ca(tmp_path / f"ca{len(opened)}", provisioner=provisioner)
        config = ca.config()
        slept: list[float] = []
        client = WebhookClient(timeout=timeout, cafile=server.cafile, sleep=slept.append)
        authority = Authority.from_config(config, open_database(config.db), password=ca.password)
        authority.webhook_client = client
        opened.append(authority)
        return authority, ca, slept

    yield build
    for authority in opened:
        authority.close()
        authority.database.close()


def _hook(server: WebhookServer, name: str, kind: str, path: str = "", **extra: Any) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "url": server.url + path, "kind": kind, "secret": SECRET,
            "bearerToken": server.bearer, **extra}


def _issued_count(authority: Authority) -> int:
    with authority.database.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(certificates)).scalar_one())


def _sign(authority: Authority, ca: TestCA) -> x509.Certificate:
    csr, _ = make_csr("host.test", ["host.test"], new_key("EC"))
    return authority.sign(SignRequest(csr=csr, token=ca.token("host.test", sans=["host.test"]))).certificate


TEMPLATE = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}, '
            '"organizationalUnit": {{ toJson .Webhooks.people.role }}}, "sans": {{ toJson .SANs }}}')


def test_enriching_data_reaches_the_template(webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    webhook_server.reply = lambda body, path: (200, json.dumps({"allow": True, "data": {"role": "eng"}}).encode())
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "people", "ENRICHING",
                                                   "/people/{{ .Subject.CommonName }}")], TEMPLATE)
    cert = _sign(authority, ca)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "eng"
    [request] = webhook_server.requests
    assert request["path"] == "/people/host.test"
    assert request["headers"]["X-Smallstep-Webhook-ID"] == "id-people"
    csr_request = request["body"]["x509CertificateRequest"]
    assert csr_request["subject"] == {"commonName": "host.test"} and csr_request["dnsNames"] == ["host.test"]
    assert csr_request["publicKeyAlgorithm"] == "ECDSA"
    assert x509.load_der_x509_csr(base64.b64decode(csr_request["raw"])).subject.rfc4514_string() == "CN=host.test"
    assert request["body"]["timestamp"].endswith("Z")


def test_a_step_ca_shaped_provisioner_with_options_webhooks(webhook_server: WebhookServer,
                                                           make: Callable[..., Any]) -> None:
    """A provisioner as step-ca's ca.json holds it: an ENRICHING webhook in ``options.webhooks``
    beside the template, with the members step-ca reads from ca.json (its ``Webhook`` struct
    drops ``secret`` and credentials there: it signs with an empty key and sends no
    Authorization), and the server checks exactly that."""
    webhook_server.secret, webhook_server.bearer = "", ""
    webhook_server.reply = lambda body, path: (200, json.dumps({"allow": True, "data": {"role": "ops"}}).encode())
    hook = {"id": "5a5c0d4e-1f3b-4bb5-9c1d-2b8f3e0a7c11", "name": "people", "url": webhook_server.url + "/people",
            "kind": "ENRICHING", "certType": "X509", "disableTLSClientAuth": True}
    authority, ca, _ = make(webhook_server, [hook], TEMPLATE)
    (stored,) = json.loads(ca.config_path.read_text())["authority"]["provisioners"]
    assert "webhooks" not in stored and stored["options"]["webhooks"] == [hook]
    cert = _sign(authority, ca)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "ops"
    [request] = webhook_server.requests
    assert "Authorization" not in request["headers"]
    assert request["headers"]["X-Smallstep-Webhook-ID"] == hook["id"]
    listed = authority.provisioner(ca.provisioner).to_json()
    assert "webhooks" not in listed and listed["options"]["webhooks"] == [
        {"id": hook["id"], "name": "people", "kind": "ENRICHING", "certType": "X509"}]
    assert listed["options"]["x509"] == {"template": TEMPLATE}


def test_webhooks_in_our_old_place_still_act(webhook_server: WebhookServer, tmp_path: Path) -> None:
    """A ca.json an older appliance wrote: top-level ``webhooks`` still act (an AUTHORIZING
    webhook that denies still denies) and are listed in step-ca's place, without secrets."""
    webhook_server.reply = lambda body, path: (200, b'{"allow": false}')
    ca = build_ca(tmp_path, provisioner={"webhooks": [_hook(webhook_server, "gate", "AUTHORIZING")]})
    config = ca.config()
    authority = Authority.from_config(config, open_database(config.db), password=ca.password)
    authority.webhook_client = WebhookClient(timeout=5.0, cafile=webhook_server.cafile)
    try:
        with pytest.raises(WebhookDenied, match="webhook 'gate' denied"):
            _sign(authority, ca)
        listed = authority.provisioner(ca.provisioner).to_json()
        assert "webhooks" not in listed and listed["options"]["webhooks"] == [
            {"id": "id-gate", "name": "gate", "kind": "AUTHORIZING", "certType": "ALL"}]
    finally:
        authority.close()
        authority.database.close()


def test_authorizing_sees_the_certificate_and_allows(webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "gate", "AUTHORIZING")])
    cert = _sign(authority, ca)
    assert authority.database.get_certificate(str(cert.serial_number)) is not None and _issued_count(authority) == 1
    body = webhook_server.requests[0]["body"]["x509Certificate"]
    assert body["subject"] == {"commonName": "host.test"}
    assert body["sans"] == [{"type": "dns", "value": "host.test"}]
    assert body["extKeyUsage"] == ["serverAuth", "clientAuth"] and body["publicKeyAlgorithm"] == "ECDSA"
    assert datetime.datetime.fromisoformat(body["notAfter"].replace("Z", "+00:00")) == cert.not_valid_after_utc


@pytest.mark.parametrize("kind", ["AUTHORIZING", "ENRICHING"])
def test_a_denial_is_a_403_naming_the_webhook_and_nothing_is_issued(
        webhook_server: WebhookServer, make: Callable[..., Any], kind: str) -> None:
    webhook_server.reply = lambda body, path: (200, b'{"allow": false}')
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "gate", kind)])
    with pytest.raises(WebhookDenied, match="webhook 'gate' denied") as raised:
        _sign(authority, ca)
    assert raised.value.kind is ErrorKind.FORBIDDEN
    assert _issued_count(authority) == 0


@pytest.mark.parametrize("reply, message, calls", [
    (lambda body, path: (500, b"boom"), "answered HTTP 500", 2),
    (lambda body, path: (200, b"<html>not json</html>"), "not JSON", 1),
    (lambda body, path: (200, b'{"allow": "yes"}'), "not {allow, data}", 1),
    (lambda body, path: (404, b"nope"), "answered HTTP 404", 1),
])
def test_bad_answers_fail_closed(webhook_server: WebhookServer, make: Callable[..., Any], reply: Reply,
                                 message: str, calls: int) -> None:
    webhook_server.reply = reply
    authority, ca, slept = make(webhook_server, [_hook(webhook_server, "gate", "AUTHORIZING")])
    with pytest.raises(WebhookUnavailable, match=message) as raised:
        _sign(authority, ca)
    assert raised.value.kind is ErrorKind.UNAVAILABLE
    assert len(webhook_server.requests) == calls and slept == [1.0] * (calls - 1)


def test_a_bad_signature_is_refused_by_the_server_and_fails_closed(
        webhook_server: WebhookServer, make: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    other = base64.b64encode(b"another secret").decode()
    authority, ca, _ = make(webhook_server, [{**_hook(webhook_server, "gate", "ENRICHING"), "secret": other}])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WebhookUnavailable, match="answered HTTP 400"):
        _sign(authority, ca)
    assert other not in caplog.text and webhook_server.bearer not in caplog.text
    listed = json.dumps(authority.provisioner(ca.provisioner).to_json())
    assert other not in listed and webhook_server.bearer not in listed


def test_basic_auth_is_sent_when_there_is_no_bearer(webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    hook = {**_hook(webhook_server, "gate", "AUTHORIZING"), "bearerToken": "", "basicAuth": {"username": "u",
                                                                                           "password": "p"}}
    authority, ca, _ = make(webhook_server, [hook])
    with pytest.raises(WebhookUnavailable, match="HTTP 401"):
        _sign(authority, ca)
    assert webhook_server.requests[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


def test_a_server_that_is_down_fails_closed_after_one_retry(webhook_server: WebhookServer,
                                                            make: Callable[..., Any]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = {**_hook(webhook_server, "gate", "AUTHORIZING"), "url": f"https://127.0.0.1:{port}/"}
    authority, ca, slept = make(webhook_server, [hook])
    with pytest.raises(WebhookUnavailable, match="could not be reached"):
        _sign(authority, ca)
    assert slept == [1.0]


def test_a_slow_server_fails_closed_at_the_timeout(webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    """The server holds the answer until the test ends; the client gives up after its (short) timeout."""
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "gate", "ENRICHING",
                                                   "/?{{ .Subject.CommonName }}")], timeout=0.3)
    webhook_server.reply = lambda body, path: (200, b'{"allow": true}')
    original = authority.webhook_client.call

    def blocking(hook: Any, request: dict[str, Any], data: dict[str, Any]) -> Any:
        return original(hook, {**request, "block": True}, data)

    authority.webhook_client.call = blocking  # type: ignore[method-assign]
    with pytest.raises(WebhookUnavailable, match="did not answer in time"):
        _sign(authority, ca)


@pytest.mark.parametrize("hook, message", [
    ({"name": "s", "url": "https://x", "kind": "SCEPCHALLENGE"}, "SCEPCHALLENGE webhooks are for SCEP provisioners"),
    ({"name": "s", "url": "https://x", "kind": "ENRICHING", "secret": "!!"}, "secret must be base64"),
    ({"name": "s", "url": "https://x", "kind": "WHATEVER"}, "ENRICHING, AUTHORIZING, SCEPCHALLENGE or NOTIFYING"),
    ({"name": "s", "url": "https://x/{{ .Nope", "kind": "ENRICHING"}, "url"),
])
def test_bad_webhook_configuration_stops_the_ca(tmp_path: Path, hook: dict[str, Any], message: str) -> None:
    ca = build_ca(tmp_path, provisioner={"options": {"webhooks": [hook]}})
    config = ca.config()
    with pytest.raises(BadRequest, match=message):
        Authority.from_config(config, open_database(config.db), password=ca.password)


@pytest.mark.parametrize("reply, status, message", [
    (lambda body, path: (200, b'{"allow": false}'), 403, "webhook 'gate' denied"),
    (lambda body, path: (200, b"garbage"), 503, "webhook 'gate' answered something that is not JSON"),
])
def test_over_http_a_denial_is_403_and_an_outage_503(webhook_server: WebhookServer, make: Callable[..., Any],
                                                     reply: Reply, status: int, message: str) -> None:
    """Through the real app: step-ca's {status, message} error JSON, no certificate."""
    webhook_server.reply = reply
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "gate", "AUTHORIZING")])
    csr, _ = make_csr("host.test", ["host.test"], new_key("EC"))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    with TestClient(create_app(authority)) as client:
        response = client.post("/1.0/sign", json={"csr": pem, "ott": ca.token("host.test", sans=["host.test"])})
    assert response.status_code == status
    assert response.json()["status"] == status and message in response.json()["message"]
    assert _issued_count(authority) == 0


def test_over_http_template_data_from_the_request_reaches_the_template(
        webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    template = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}, '
                '"organizationalUnit": {{ toJson .Insecure.User.team }}}, "sans": {{ toJson .SANs }}}')
    authority, ca, _ = make(webhook_server, [], template)
    csr, _ = make_csr("host.test", ["host.test"], new_key("EC"))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    with TestClient(create_app(authority)) as client:
        response = client.post("/1.0/sign", json={"csr": pem, "ott": ca.token("host.test", sans=["host.test"]),
                                                  "templateData": {"team": "SRE"}})
    assert response.status_code == 201, response.text
    cert = x509.load_pem_x509_certificate(response.json()["crt"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "SRE"


def test_the_cas_tls_certificate_is_presented_unless_disabled(webhook_server: WebhookServer,
                                                              make: Callable[..., Any], tmp_path: Path) -> None:
    hooks = [_hook(webhook_server, "gate", "AUTHORIZING"),
             {**_hook(webhook_server, "open", "AUTHORIZING"), "disableTLSClientAuth": True}]
    authority, ca, _ = make(webhook_server, hooks)
    webhook_server.tls.load_verify_locations(ca.root_path)
    key = ec.generate_private_key(ec.SECP256R1())
    issued = authority.issue_server_certificate(key.public_key())
    chain, key_path, password = tmp_path / "tls.crt", tmp_path / "tls.key", b"pw"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (issued.certificate, *issued.chain)))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(password)))
    authority.webhook_client = WebhookClient(cafile=webhook_server.cafile, client_cert=(str(chain), str(key_path),
                                                                                        password))
    _sign(authority, ca)
    presented, withheld = (request["peer"] for request in webhook_server.requests)
    assert dict(item[0] for item in presented["subject"])["commonName"] == "ca.test"
    assert not withheld


def test_no_retry_past_the_calls_deadline(webhook_server: WebhookServer, make: Callable[..., Any]) -> None:
    """The timeout bounds the whole call: when the first attempt used most of it, no retry."""
    webhook_server.reply = lambda body, path: (503, b"busy")
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "gate", "AUTHORIZING")])
    readings = iter([0.0, 0.0] + [4.5] * 10)
    slept: list[float] = []
    authority.webhook_client = WebhookClient(timeout=5.0, cafile=webhook_server.cafile, sleep=slept.append,
                                             monotonic=lambda: next(readings))
    with pytest.raises(WebhookUnavailable, match="HTTP 503"):
        _sign(authority, ca)
    assert len(webhook_server.requests) == 1 and slept == []


def test_notifying_webhooks_are_accepted_and_not_called_on_sign(webhook_server: WebhookServer,
                                                                 make: Callable[..., Any]) -> None:
    """step-ca accepts NOTIFYING on every provisioner but calls them from SCEP only."""
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "told", "NOTIFYING")])
    assert _sign(authority, ca)
    assert webhook_server.requests == []


@pytest.mark.parametrize("reply", [
    lambda body, path: (200, b'{"allow": true}'),
    lambda body, path: (200, b'{"allow": false}'),
    lambda body, path: (500, b"down"),
    lambda body, path: (200, b"garbage"),
])
def test_notify_sends_step_cas_body_and_never_fails_the_request(webhook_server: WebhookServer,
                                                                make: Callable[..., Any], reply: Reply) -> None:
    authority, ca, _ = make(webhook_server, [_hook(webhook_server, "told", "NOTIFYING")])
    webhook_server.reply = reply
    csr, _ = make_csr("host.test", ["host.test"], new_key("EC"))
    issued = authority.sign(SignRequest(csr=csr, token=ca.token("host.test", sans=["host.test"]))).certificate
    provisioner = authority.provisioner(ca.provisioner)
    told = notify(authority.webhook_client, provisioner, csr, certificate=issued, transaction_id="tx-1")
    body = webhook_server.requests[-1]["body"]
    assert body["scepTransactionID"] == "tx-1"
    assert base64.b64decode(body["x509Certificate"]["raw"]) == issued.public_bytes(serialization.Encoding.DER)
    assert base64.b64decode(body["x509CertificateRequest"]["raw"]) == csr.public_bytes(serialization.Encoding.DER)
    assert told == (1 if webhook_server.reply(body, "")[1].startswith(b"{") else 0)


def test_notify_of_a_failure_and_a_webhook_that_is_down(webhook_server: WebhookServer,
                                                        make: Callable[..., Any]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {**_hook(webhook_server, "down", "NOTIFYING"), "url": f"https://127.0.0.1:{port}/"}
    authority, ca, slept = make(webhook_server, [down, _hook(webhook_server, "told", "NOTIFYING")])
    csr, _ = make_csr("host.test", ["host.test"], new_key("EC"))
    told = notify(authority.webhook_client, authority.provisioner(ca.provisioner), csr, transaction_id="tx-2",
                  error="the challenge was wrong")
    assert told == 1 and slept == [1.0]  # the dead one: one retry, then ignored
    body = webhook_server.requests[-1]["body"]
    assert body["scepErrorDescription"] == "the challenge was wrong" and "x509Certificate" not in body
