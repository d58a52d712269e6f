"""A provisioner's ``options.x509`` (step-ca's ``provisioner.X509Options``): the certificate
template (inline or from a file) and the data it sees at top level."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import BadRequest
from appliance.templates import FUNCTIONS, Template, TemplateError

#: smallstep/crypto ``x509util.DefaultLeafTemplate``.
DEFAULT_LEAF_TEMPLATE = """{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""

_KNOWN = frozenset({"template", "templateFile", "templateData"})


@dataclass(frozen=True)
class X509Options:
    """The template a provisioner's certificates are rendered with (``custom`` when the
    configuration names one: only then does the request's ``templateData`` reach it)."""

    template: Template
    custom: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, options: Any, where: str) -> X509Options:
        """Parse ``options`` (a provisioner's ``options`` object); a template that does not
        parse stops the CA at start, naming the provisioner."""
        if options is not None and not isinstance(options, dict):
            raise BadRequest(f"{where}: options must be an object")
        unknown_options = sorted(set(options or {}) - {"x509"})
        if unknown_options:
            raise BadRequest(f"{where}: options.{', options.'.join(unknown_options)} not supported yet "
                             "(SSH certificate templates arrive with SSH)")
        x509 = (options or {}).get("x509")
        if x509 is None:
            return cls(Template("leaf", DEFAULT_LEAF_TEMPLATE, FUNCTIONS))
        if not isinstance(x509, dict):
            raise BadRequest(f"{where}: options.x509 must be an object")
        unknown = sorted(set(x509) - _KNOWN)
        if unknown:
            raise BadRequest(f"{where}: options.x509 has unsupported fields {', '.join(unknown)}")
        data = x509.get("templateData") or {}
        if not isinstance(data, dict):
            raise BadRequest(f"{where}: options.x509.templateData must be an object")
        text, name = x509.get("template"), "template"
        if x509.get("templateFile"):
            path = Path(str(x509["templateFile"]))
            try:
                text, name = path.read_text(), path.name
            except OSError as exc:
                raise BadRequest(f"{where}: options.x509.templateFile {path}: {exc.strerror}") from None
        if text is None:
            return cls(Template("leaf", DEFAULT_LEAF_TEMPLATE, FUNCTIONS), data=go_json(data))
        if not isinstance(text, str):
            raise BadRequest(f"{where}: options.x509.template must be a string")
        try:
            template = Template(name, text, FUNCTIONS)
        except TemplateError as exc:
            raise BadRequest(f"{where}: options.x509 template: {exc.message}") from None
        return cls(template, custom=True, data=go_json(data))


def go_json(value: Any) -> Any:
    """JSON as Go's ``encoding/json`` decodes it into ``interface{}``: every number a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {str(key): go_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [go_json(item) for item in value]
    return json.loads(json.dumps(value, default=str))
