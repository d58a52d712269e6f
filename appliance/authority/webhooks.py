"""A provisioner's webhooks around the template: ENRICHING before it renders (their data at
``.Webhooks.<name>``), AUTHORIZING on the certificate it describes, before signing."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from appliance.provisioner import Provisioner
from appliance.provisioner.webhooks import WebhookClient, WebhookDenied


def _key_algorithm(key: CertificatePublicKeyTypes) -> str:
    """Go's ``x509.PublicKeyAlgorithm`` name."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return "UnknownPublicKeyAlgorithm"


def _go_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def enrich(client: WebhookClient, provisioner: Provisioner, csr: x509.CertificateSigningRequest,
           data: dict[str, Any]) -> None:
    """Call the ENRICHING webhooks with the request; each must allow, its data goes to the template."""
    hooks = [h for h in provisioner.webhooks if h.kind == "ENRICHING" and h.applies_to("X509")]
    if not hooks:
        return
    description = data["Insecure"]["CR"].json_value
    request = {"x509CertificateRequest": {
        **description, "publicKeyAlgorithm": _key_algorithm(csr.public_key()),
        "raw": base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode(),
    }}
    results = data.setdefault("Webhooks", {})
    for hook in hooks:
        answer = client.call(hook, request, data)
        if not answer.allow:
            raise WebhookDenied(f"webhook '{hook.name}' denied the request")
        results[hook.name] = answer.data


def authorize(client: WebhookClient, provisioner: Provisioner, description: dict[str, Any],
              public_key: CertificatePublicKeyTypes, not_before: datetime.datetime, not_after: datetime.datetime,
              data: dict[str, Any]) -> None:
    """Call the AUTHORIZING webhooks with the certificate about to be signed; each must allow."""
    hooks = [h for h in provisioner.webhooks if h.kind == "AUTHORIZING" and h.applies_to("X509")]
    if not hooks:
        return
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    request = {"x509Certificate": {
        **description, "publicKey": base64.b64encode(spki).decode(), "publicKeyAlgorithm": _key_algorithm(public_key),
        "notBefore": _go_time(not_before), "notAfter": _go_time(not_after),
    }}
    for hook in hooks:
        if not client.call(hook, request, data).allow:
            raise WebhookDenied(f"webhook '{hook.name}' denied the certificate")
