"""Property: whatever JWS a client posts to the real ACME server (signed with a real
account key, so that hostile headers and payloads reach the checks behind the
signature), the answer is never a 5xx; a refusal is an RFC 7807 problem document
and changes no ACME table and no certificate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st
from jwcrypto import jwk

from tests.acme.client import AcmeClient, public
from tests.acme.conftest import AcmeEnv
from tests.api.test_malformed_input import unsupported_curve_csr
from tests.ca_fixtures import make_csr
from tests.fuzz.conftest import SCALES, fuzz_settings, record
from tests.fuzz.strategies import JSON_VALUES, NASTY_TEXT, b64, encode, flattened, mutate, raw_documents

EXAMPLES = 900
PROBLEM = "urn:ietf:params:acme:error:"
CSRS = [b64(make_csr("fuzz.example.test", key=key)[0].public_bytes(Encoding.DER)) for key in (
    ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256K1()),
    rsa.generate_private_key(public_exponent=65537, key_size=2048), ed25519.Ed25519PrivateKey.generate(),
)] + [b64(unsupported_curve_csr().public_bytes(Encoding.DER)), "not base64!", b64(b"\x30\x03\x02\x01\x01")]


class Target:
    """The account under fuzz and the URLs it can post to; follows a successful key change."""

    def __init__(self, env: AcmeEnv) -> None:
        self.env = env
        self.client = AcmeClient(env.http, env.directory())
        assert self.client.register(contact=["mailto:fuzz@example.test"]).status_code == 201
        order = self.client.new_order("fuzz.example.test")
        self.order = order.json()
        self.urls = {"newAccount": self.client.directory["newAccount"], "newOrder": self.client.directory["newOrder"],
                     "keyChange": self.client.directory["keyChange"], "revokeCert": self.client.directory["revokeCert"],
                     "account": str(self.client.account_url), "order": order.headers["Location"],
                     "finalize": self.order["finalize"], "authz": self.order["authorizations"][0]}
        self.nonce: str | None = None

    @property
    def key(self) -> jwk.JWK:
        return self.client.key

    def next_nonce(self) -> str:
        nonce, self.nonce = self.nonce, None
        return nonce or self.env.http.head(self.client.directory["newNonce"]).headers["Replay-Nonce"]


def payload_for(draw: st.DrawFn, target: Target, name: str) -> Any:
    """A well-formed payload for the resource, which the caller may then break."""
    if name == "newAccount":
        payload: dict[str, Any] = {"termsOfServiceAgreed": True, "contact": ["mailto:fuzz@example.test"]}
        if draw(st.integers(0, 4)) == 0:
            eab_header = mutate({"alg": "HS256", "kid": "fuzz", "url": target.urls[name]}, draw,
                                names=("alg", "kid", "url", "nonce"))
            payload["externalAccountBinding"] = flattened(eab_header, public(target.key), target.key)
        return payload
    if name == "newOrder":
        return {"identifiers": [{"type": draw(st.sampled_from(["dns", "ip", "email"])),
                                 "value": draw(st.sampled_from(["fuzz.example.test", "*.fuzz.example.test",
                                                                "127.0.0.1", "denied.test"]) | NASTY_TEXT)}]}
    if name == "finalize":
        return {"csr": draw(st.sampled_from(CSRS))}
    if name == "revokeCert":
        return {"certificate": b64(target.env.ca.intermediate.public_bytes(Encoding.DER)),
                "reason": draw(st.integers(-1, 11))}
    if name == "keyChange":
        new_key = jwk.JWK.generate(kty="EC", crv="P-256")
        inner = mutate({"alg": "ES256", "jwk": public(new_key), "url": target.urls[name]}, draw,
                       names=("alg", "jwk", "url", "kid", "nonce"))
        inner_payload = mutate({"account": target.urls["account"], "oldKey": public(target.key)}, draw,
                               names=("account", "oldKey"))
        return {"_key": new_key, **flattened(inner, inner_payload, new_key)}
    if name == "account":
        return {"contact": ["mailto:fuzz2@example.test"]}
    return b""  # POST-as-GET


@st.composite
def request(draw: st.DrawFn, target: Target) -> tuple[str, bytes, str, jwk.JWK | None]:
    """(url, body, content type, the new key if this is a well-formed key change)."""
    name = draw(st.sampled_from(sorted(target.urls)))
    url = target.urls[name]
    header: Any = {"alg": "ES256", "nonce": target.next_nonce(), "url": url}
    if name == "newAccount" or (name == "revokeCert" and draw(st.booleans())):
        header["jwk"] = public(target.key)
    else:
        header["kid"] = target.urls["account"]
    payload: Any = payload_for(draw, target, name)
    new_key = payload.pop("_key") if isinstance(payload, dict) and "_key" in payload else None
    kind = draw(st.sampled_from(["good", "header", "payload", "raw-header", "raw-payload", "body", "raw-body"]))
    if kind == "header":
        header = mutate(header, draw, names=("alg", "nonce", "url", "kid", "jwk", "crit", "b64"))
    elif kind == "payload":
        payload = mutate(payload, draw, names=tuple(payload)) if isinstance(payload, dict) and payload else \
            draw(JSON_VALUES)
    elif kind == "raw-header":
        header = draw(raw_documents())
    elif kind == "raw-payload":
        payload = draw(raw_documents())
    body: Any = flattened(header, payload if payload != b"" else b"", target.key)
    if kind == "body":
        body = mutate(body, draw, names=("protected", "payload", "signature", "header", "signatures"))
    content = draw(raw_documents()) if kind == "raw-body" else encode(body)
    content_type = draw(st.sampled_from(["application/jose+json"] * 9 + ["application/json"]))
    return url, content, content_type, new_key if kind == "good" else None


@pytest.mark.parametrize("scale", SCALES)
def test_acme_never_answers_5xx(acme: AcmeEnv, scale: int) -> None:
    target = Target(acme)
    outcomes: set[int] = set()

    @fuzz_settings(EXAMPLES, scale)
    @given(st.data())
    def case(data: st.DataObject) -> None:
        url, content, content_type, new_key = data.draw(request(target))
        before = acme.counts()
        response = acme.http.post(url, content=content, headers={"content-type": content_type})
        record("ACME", response.status_code)
        outcomes.add(response.status_code)
        target.nonce = response.headers.get("Replay-Nonce")
        assert response.status_code < 500, (url, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json"), response.text
            problem = response.json()
            assert problem["type"].startswith(PROBLEM) and problem["status"] == response.status_code
            assert acme.counts() == before, "a refused request changed the ACME tables"
        elif new_key is not None:
            target.client.key = new_key  # a well-formed key change went through

    case()
    assert {200, 201} & outcomes and 400 in outcomes, outcomes


def test_eab_alg_that_is_not_a_string_is_malformed(acme: AcmeEnv) -> None:
    """Answered 500 before the fix: the EAB ``alg`` was looked up in a dict (unhashable object)."""
    target = Target(acme)
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    payload = {"termsOfServiceAgreed": True,
               "externalAccountBinding": flattened({"alg": {"x": 1}, "kid": "k", "url": target.urls["newAccount"]},
                                                   public(key), key)}
    header = {"alg": "ES256", "nonce": target.next_nonce(), "url": target.urls["newAccount"], "jwk": public(key)}
    before = acme.counts()
    response = acme.http.post(target.urls["newAccount"], content=json.dumps(flattened(header, payload, key)),
                              headers={"content-type": "application/jose+json"})
    assert response.status_code == 400, response.text
    assert response.json()["type"] == PROBLEM + "malformed" and "alg" in response.json()["detail"]
    assert acme.counts() == before
