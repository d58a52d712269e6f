"""The certificate of a device-attest-01 order, as step-ca's ACME finalize makes it: the
permanent identifier as an RFC 4043 ``otherName`` SAN, smallstep/crypto's attested leaf
template (clientAuth only) unless the provisioner has its own, and what the attestation
proved in the template data as ``.AttestationData`` (our addition: ``PermanentIdentifier``,
``Format``, ``Fingerprint`` and, for YubiKeys, ``SerialNumber``, ``Firmware``, ``PINPolicy``,
``TouchPolicy``; for TPMs, ``TPMManufacturer``, ``TPMModel``, ``TPMVersion``)."""

from __future__ import annotations

from typing import Any

from appliance.provisioner.options import X509Options, go_json
from appliance.templates import FUNCTIONS, Template
from appliance.templates.values import GoObject

#: smallstep/crypto ``x509util.DefaultAttestedLeafTemplate``.
DEFAULT_ATTESTED_LEAF_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["clientAuth"]
}"""
_ATTESTED_LEAF = Template("attested-leaf", DEFAULT_ATTESTED_LEAF_TEMPLATE, FUNCTIONS)
#: The recorded attestation's JSON members and their template names.
_TEMPLATE_NAMES = {"permanentIdentifier": "PermanentIdentifier", "format": "Format", "fingerprint": "Fingerprint",
                   "serialNumber": "SerialNumber", "firmware": "Firmware", "pinPolicy": "PINPolicy",
                   "touchPolicy": "TouchPolicy", "formFactor": "FormFactor", "udid": "UDID",
                   "tpmManufacturer": "TPMManufacturer", "tpmModel": "TPMModel", "tpmVersion": "TPMVersion"}


def attested_options(options: X509Options) -> X509Options:
    """The provisioner's own template, or the attested leaf template with its templateData."""
    return options if options.custom else X509Options(_ATTESTED_LEAF, data=options.data)


def add_attestation(data: dict[str, Any], attestation: dict[str, Any]) -> None:
    """The permanent identifier SAN in ``.SANs`` and ``.AttestationData`` in the template data."""
    value = str(attestation["permanentIdentifier"])
    data["SANs"] = [*data["SANs"], GoObject("x509util.SubjectAlternativeName",
                                            {"Type": "permanentIdentifier", "Value": value},
                                            {"type": "permanentIdentifier", "value": value})]
    data["AttestationData"] = go_json({name: attestation[key] for key, name in _TEMPLATE_NAMES.items()
                                       if key in attestation})


def webhook_attestation(data: dict[str, Any]) -> dict[str, str] | None:
    """step-ca's webhook request ``attestationData`` member, for an attested order."""
    attested = data.get("AttestationData")
    if not isinstance(attested, dict):
        return None
    return {"permanentIdentifier": str(attested.get("PermanentIdentifier", ""))}
