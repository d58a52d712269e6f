"""Transactions (RFC 8894 section 3.3.2): a replayed PKCSReq is answered with the
certificate issued once, re-addressed to the new senderNonce; the same transactionID with
another request is refused; GetCertInitial returns a known transaction's certificate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from tests.scep.conftest import CHALLENGE, ScepEnv, openssl_verify
from tests.scep.openssl_client import OpensslClient
from tests.scep.test_openssl_client import post

pytestmark = pytest.mark.slow


class IssuerAndSubject(core.Sequence):
    """GetCertInitial's content (RFC 8894 section 3.3.3)."""

    _fields = [("issuer", asn1_x509.Name), ("subject", asn1_x509.Name)]


def _serial(path: str) -> int:
    return x509.load_pem_x509_certificate(Path(path).read_bytes()).serial_number


def test_a_replayed_request_gets_the_same_certificate_and_issues_once(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    before = env.issued()
    message = client.request(env.ca.intermediate_path, CHALLENGE, transaction_id="replay-1")
    first = client.read_reply(post(env, message).content, env.ca.root_path)
    assert first["pkiStatus"] == "0"
    first_serial = _serial(first["certificate"])
    again = client.read_reply(post(env, message).content, env.ca.root_path)
    assert again["pkiStatus"] == "0" and _serial(again["certificate"]) == first_serial
    # the same request re-sent with a fresh senderNonce: answered to that nonce
    nonce = os.urandom(16)
    resent = client.request(env.ca.intermediate_path, CHALLENGE, transaction_id="replay-1", nonce=nonce)
    reply = client.read_reply(post(env, resent).content, env.ca.root_path)
    assert reply["pkiStatus"] == "0" and _serial(reply["certificate"]) == first_serial
    assert bytes.fromhex(reply["recipientNonce"]) == nonce
    openssl_verify(env.ca, Path(reply["certificate"]))
    assert env.issued() == before + 1


def test_the_same_transaction_with_another_request_is_refused(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    other = OpensslClient(tmp_path / "other", cn="someone-else")
    assert client.read_reply(post(env, client.request(env.ca.intermediate_path, CHALLENGE, transaction_id="tx-2"))
                             .content, env.ca.root_path)["pkiStatus"] == "0"
    before = env.issued()
    reply = other.read_reply(post(env, other.request(env.ca.intermediate_path, CHALLENGE, transaction_id="tx-2"))
                             .content, env.ca.root_path)
    assert (reply["pkiStatus"], reply["failInfo"]) == ("2", "2")  # FAILURE badRequest
    assert env.issued() == before


def test_a_refused_request_leaves_its_transaction_open(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    refused = client.read_reply(post(env, client.request(env.ca.intermediate_path, "wrong", transaction_id="tx-3"))
                                .content, env.ca.root_path)
    assert refused["failInfo"] == "2"
    retried = client.read_reply(post(env, client.request(env.ca.intermediate_path, CHALLENGE, transaction_id="tx-3"))
                                .content, env.ca.root_path)
    assert retried["pkiStatus"] == "0"


def test_get_cert_initial(env: ScepEnv, tmp_path: Path) -> None:
    client = OpensslClient(tmp_path / "client")
    enrolled = client.read_reply(post(env, client.request(env.ca.intermediate_path, CHALLENGE, transaction_id="tx-4"))
                                 .content, env.ca.root_path)
    issuer_and_subject = IssuerAndSubject({
        "issuer": asn1_x509.Name.load(env.ca.intermediate.subject.public_bytes()),
        "subject": asn1_x509.Name.build({"common_name": client.cn})}).dump()
    before = env.issued()
    poll = client.request(env.ca.intermediate_path, CHALLENGE, message_type="20", transaction_id="tx-4",
                          payload=issuer_and_subject)
    reply = client.read_reply(post(env, poll).content, env.ca.root_path)
    assert reply["pkiStatus"] == "0" and _serial(reply["certificate"]) == _serial(enrolled["certificate"])
    unknown = client.request(env.ca.intermediate_path, CHALLENGE, message_type="20", transaction_id="tx-unknown",
                             payload=issuer_and_subject)
    reply = client.read_reply(post(env, unknown).content, env.ca.root_path)
    assert (reply["pkiStatus"], reply["failInfo"]) == ("2", "4")  # FAILURE badCertId
    assert env.issued() == before
