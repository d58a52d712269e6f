"""A provisioner's webhooks around the template: ENRICHING before it renders (their data at
``.Webhooks.<name>``), AUTHORIZING on the certificate it describes, before signing; for SCEP,
SCEPCHALLENGE on the challenge password and the CSR (``scep_challenge``) and NOTIFYING after
the request (step-ca calls them from SCEP only: ``notify`` is for the SCEP handler)."""

from __future__ import annotations

import base64
import datetime
import logging
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from appliance.authority.attested import webhook_attestation
from appliance.authority.interfaces import ScepChallengeVerdict
from appliance.authority.templating import csr_description
from appliance.errors import ApplianceError
from appliance.provisioner import Provisioner
from appliance.provisioner.webhooks import WebhookClient, WebhookDenied

log = logging.getLogger(__name__)


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


def _csr_request(csr: x509.CertificateSigningRequest, description: dict[str, Any]) -> dict[str, Any]:
    """step-ca's ``X509CertificateRequest`` body member."""
    return {**description, "publicKeyAlgorithm": _key_algorithm(csr.public_key()),
            "raw": base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()}


def _spki(public_key: CertificatePublicKeyTypes) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _attestation_member(data: dict[str, Any]) -> dict[str, Any]:
    """``attestationData`` for a device-attest-01 order's certificate, as step-ca sends it."""
    attestation = webhook_attestation(data)
    return {} if attestation is None else {"attestationData": attestation}


def enrich(client: WebhookClient, provisioner: Provisioner, csr: x509.CertificateSigningRequest,
           data: dict[str, Any]) -> None:
    """Call the ENRICHING webhooks with the request; each must allow, its data goes to the template."""
    hooks = [h for h in provisioner.webhooks if h.kind == "ENRICHING" and h.applies_to("X509")]
    if not hooks:
        return
    request = {"x509CertificateRequest": _csr_request(csr, data["Insecure"]["CR"].json_value),
               **_attestation_member(data)}
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
    request = {"x509Certificate": {
        **description, "publicKey": _spki(public_key), "publicKeyAlgorithm": _key_algorithm(public_key),
        "notBefore": _go_time(not_before), "notAfter": _go_time(not_after),
    }, **_attestation_member(data)}
    for hook in hooks:
        if not client.call(hook, request, data).allow:
            raise WebhookDenied(f"webhook '{hook.name}' denied the certificate")


def scep_challenge(client: WebhookClient, provisioner: Provisioner, csr: x509.CertificateSigningRequest,
                   challenge: str | None, transaction_id: str) -> ScepChallengeVerdict | None:
    """Ask the SCEPCHALLENGE webhooks with step-ca's body (the CSR, ``provisionerName``,
    ``scepChallenge``, ``scepTransactionID``; no ``scepChallenge`` when a poll asks again): accepted if one allows
    (the data of each that allows goes to the template), pending if none allows and one answers
    ``pending``, else ``WebhookDenied``. None when the provisioner has no such webhook."""
    hooks = [h for h in provisioner.webhooks if h.kind == "SCEPCHALLENGE" and h.applies_to("X509")]
    if not hooks:
        return None
    request: dict[str, Any] = {"x509CertificateRequest": _csr_request(csr, csr_description(csr)),
                               "provisionerName": provisioner.name, "scepTransactionID": transaction_id}
    if challenge is not None:
        request["scepChallenge"] = challenge
    allowed: dict[str, Any] = {}
    pending = False
    for hook in hooks:
        answer = client.call(hook, request, {})
        if answer.allow:
            allowed[hook.name] = answer.data
        pending = pending or answer.pending
    if allowed:
        return ScepChallengeVerdict(webhooks=allowed)
    if pending:
        return ScepChallengeVerdict(pending=True)
    raise WebhookDenied("no SCEPCHALLENGE webhook accepted the challenge")


def notify(client: WebhookClient, provisioner: Provisioner, csr: x509.CertificateSigningRequest, *,
           certificate: x509.Certificate | None = None, transaction_id: str = "", error: str = "") -> int:
    """Tell the NOTIFYING webhooks how a request ended, as step-ca's SCEP does: the request and
    the certificate issued (``scepTransactionID``), or the request and ``error``. Their answers
    are ignored and a failing webhook changes nothing (it is logged, by name); each call is
    bounded by the client's timeout. Returns how many webhooks were told."""
    hooks = [h for h in provisioner.webhooks if h.kind == "NOTIFYING" and h.applies_to("X509")]
    request: dict[str, Any] = {"x509CertificateRequest": _csr_request(csr, csr_description(csr))}
    if transaction_id:
        request["scepTransactionID"] = transaction_id
    if certificate is not None:
        request["x509Certificate"] = {
            "publicKey": _spki(certificate.public_key()), "publicKeyAlgorithm": _key_algorithm(certificate.public_key()),
            "notBefore": _go_time(certificate.not_valid_before_utc), "notAfter": _go_time(certificate.not_valid_after_utc),
            "raw": base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode(),
        }
    if error:
        request["scepErrorDescription"] = error
    told = 0
    for hook in hooks:
        try:
            client.call(hook, request, {})
            told += 1
        except ApplianceError as exc:
            log.warning("NOTIFYING webhook '%s' of provisioner '%s' failed: %s", hook.name, provisioner.name,
                        exc.message)
    return told
