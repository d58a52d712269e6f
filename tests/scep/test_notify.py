"""NOTIFYING webhooks of a SCEP provisioner: told of each issuance (with the certificate and
the transaction ID) and of each refusal (with its reason), as step-ca's SCEP tells them;
a replay is answered without telling them again."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.provisioner.webhooks import WebhookClient
from tests.ca_fixtures import build_ca
from tests.provisioner.test_webhooks import SECRET, WebhookServer, webhook_server  # noqa: F401
from tests.scep.conftest import CHALLENGE, add_provisioners, scep_provisioner, start_scep
from tests.scep.openssl_client import OpensslClient

pytestmark = pytest.mark.slow


def test_notifying_webhooks_hear_of_issuances_and_refusals(webhook_server: WebhookServer,  # noqa: F811
                                                           tmp_path: Path) -> None:
    ca = build_ca(tmp_path / "ca", intermediate_kind="RSA")
    hook = {"id": "id-told", "name": "told", "url": webhook_server.url, "kind": "NOTIFYING", "secret": SECRET,
            "bearerToken": webhook_server.bearer}
    add_provisioners(ca, scep_provisioner(options={"webhooks": [hook]}))
    env = start_scep(ca)
    env.authority.webhook_client = WebhookClient(cafile=webhook_server.cafile)
    try:
        client = OpensslClient(tmp_path / "client")
        message = client.request(ca.intermediate_path, CHALLENGE, transaction_id="tx-notified")

        def post(body: bytes) -> dict[str, str]:
            response = httpx.post(env.url() + "?operation=PKIOperation", content=body,
                                  headers={"Content-Type": "application/x-pki-message"}, timeout=30)
            return client.read_reply(response.content, ca.root_path)

        reply = post(message)
        assert reply["pkiStatus"] == "0"
        issued = x509.load_pem_x509_certificate(Path(reply["certificate"]).read_bytes())
        told = webhook_server.requests[-1]["body"]
        assert told["scepTransactionID"] == "tx-notified"
        assert base64.b64decode(told["x509Certificate"]["raw"]) == issued.public_bytes(serialization.Encoding.DER)
        assert "scepErrorDescription" not in told

        assert post(message)["pkiStatus"] == "0"  # a replay: the same certificate, nobody told twice
        assert len(webhook_server.requests) == 1

        refused = post(OpensslClient(tmp_path / "other").request(ca.intermediate_path, "not-it-7319",
                                                                 transaction_id="tx-refused"))
        assert refused["pkiStatus"] == "2"
        told = webhook_server.requests[-1]["body"]
        assert told["scepTransactionID"] == "tx-refused" and "challenge" in told["scepErrorDescription"]
        assert "not-it-7319" not in str(told) and "x509Certificate" not in told
    finally:
        env.close()
