"""``appliance ca certificate SUBJECT CRT --attestation-uri yubikey:slot-id=9a``: a certificate
for a key that provably lives in a device, as ``step ca certificate --attestation-uri`` gets it.

The key is the slot's (created when the slot is empty), the device's attestation comes from
the KMS backend's ``attest``; the ACME order is for the ``permanent-identifier`` SUBJECT (the
device's serial number), its ``device-attest-01`` challenge is answered with step's ``step``
attestation object (the slot attestation chain and the slot key's signature of the key
authorization, CBOR-encoded) and the CSR (CN=SUBJECT) is signed by the slot key."""

from __future__ import annotations

from dataclasses import dataclass

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.client.acme import AcmeClient, problem_detail
from appliance.client.http import CaRequestFailed
from appliance.errors import BadRequest
from appliance.jose.b64 import b64encode
from appliance.kms import Attester, KeyManager, KeyType
from appliance.kms.errors import KeyNotFound
from appliance.pki.keys import signature_hash

DEVICE_ATTEST = "device-attest-01"


@dataclass(frozen=True)
class AttestedKey:
    """A device key (``name``: its URI without secrets), its signer and the device's attestation
    chain for it (attested key first)."""

    name: str
    signer: PrivateKeyTypes
    chain: list[x509.Certificate]
    created: bool


def attested_key(manager: KeyManager, uri: str, key_type: KeyType) -> AttestedKey:
    """The key at ``uri`` (created with ``key_type`` when there is none) and its attestation."""
    if not isinstance(manager, Attester):
        raise BadRequest(f"the {manager.scheme}: backend cannot attest keys (--attestation-uri)")
    try:
        manager.get_public_key(uri)
        name, created = str(manager.key_uri(uri)), False
    except KeyNotFound:
        name, created = manager.create_key(uri, key_type).uri, True
    return AttestedKey(name, manager.create_signer(uri), manager.attest(uri), created)


def step_attestation_object(key: AttestedKey, key_authorization: str) -> bytes:
    """step's ``step`` format: ``{"alg", "sig": CBOR(signature of the key authorization), "x5c"}``."""
    data, signer = key_authorization.encode(), key.signer
    if isinstance(signer, ec.EllipticCurvePrivateKey) and isinstance(signer.curve, ec.SECP256R1):
        alg, signature = -7, signer.sign(data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(signer, rsa.RSAPrivateKey):
        alg, signature = -257, signer.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(signer, ed25519.Ed25519PrivateKey):
        alg, signature = -8, signer.sign(data)
    else:
        raise BadRequest("device attestation needs an EC P-256, RSA or Ed25519 key")
    return cbor2.dumps({"fmt": "step", "attStmt": {
        "alg": alg, "sig": cbor2.dumps(signature), "x5c": [c.public_bytes(Encoding.DER) for c in key.chain]}})


def enrol(acme: AcmeClient, subject: str, key: AttestedKey) -> list[x509.Certificate]:
    """The whole ACME order for the permanent identifier ``subject``; the certificate chain."""
    acme.register()
    order = acme.new_order([{"type": "permanent-identifier", "value": subject}])
    for url in order.body.get("authorizations") or ():
        authorization = acme.fetch(url).body
        if authorization.get("status") == "valid":
            continue
        challenge = next((c for c in authorization.get("challenges") or () if c.get("type") == DEVICE_ATTEST), None)
        if challenge is None:
            raise CaRequestFailed(f"the ACME provisioner offers no {DEVICE_ATTEST} challenge for {subject}", 403)
        att_obj = step_attestation_object(key, acme.key_authorization(str(challenge.get("token"))))
        answered = acme.fetch(str(challenge.get("url")), {"attObj": b64encode(att_obj)}).body
        if answered.get("status") != "valid":
            raise CaRequestFailed(f"the CA refused the device attestation: {problem_detail(answered.get('error'))}", 403)
    order = acme.poll(order, ("ready", "valid"))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)]))
           .sign(key.signer, signature_hash(key.signer)))  # type: ignore[arg-type]
    chain = acme.finalize(order, csr)
    if chain[0].public_key() != key.signer.public_key():
        raise BadRequest("the CA returned a certificate for another key")
    return chain
