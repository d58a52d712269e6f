"""A provisioner's ``options.x509`` and ``options.ssh`` (step-ca's ``provisioner.X509Options``
and ``SSHOptions``; ``options.webhooks`` is read with the provisioner's webhooks): the certificate
template (inline, as text or base64, or from a file) and the data it sees at top level."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

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

#: smallstep/crypto ``sshutil.DefaultTemplate``.
DEFAULT_SSH_TEMPLATE = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
}"""

_KNOWN = frozenset({"template", "templateFile", "templateData"})
#: ``options`` members read elsewhere: ``webhooks`` with the provisioner's webhooks.
_OTHER_OPTIONS = frozenset({"webhooks"})
#: Each kind of ``options`` member: the default template and its name.
_DEFAULTS = {"x509": ("leaf", DEFAULT_LEAF_TEMPLATE), "ssh": ("ssh", DEFAULT_SSH_TEMPLATE)}


@dataclass(frozen=True)
class X509Options:
    """The template a provisioner's certificates are rendered with (``custom`` when the
    configuration names one: only then does the request's ``templateData`` reach it).
    The same shape serves ``options.ssh`` (``SshOptions``)."""

    template: Template
    custom: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, options: Any, where: str, kind: str = "x509",
                    resolve: Callable[[str], Path] = Path) -> X509Options:
        """Parse ``options.<kind>`` of a provisioner's ``options`` object; a template that
        does not parse stops the CA at start, naming the provisioner. ``resolve`` turns a
        ``templateFile`` into the path read (the provisioner context's base directory)."""
        if options is not None and not isinstance(options, dict):
            raise BadRequest(f"{where}: options must be an object")
        unknown_options = sorted(set(options or {}) - set(_DEFAULTS) - _OTHER_OPTIONS)
        if unknown_options:
            raise BadRequest(f"{where}: options.{', options.'.join(unknown_options)} not supported")
        default_name, default_text = _DEFAULTS[kind]
        section = (options or {}).get(kind)
        if section is None:
            return cls(Template(default_name, default_text, FUNCTIONS))
        if not isinstance(section, dict):
            raise BadRequest(f"{where}: options.{kind} must be an object")
        unknown = sorted(set(section) - _KNOWN)
        if unknown:
            raise BadRequest(f"{where}: options.{kind} has unsupported fields {', '.join(unknown)}")
        data = section.get("templateData") or {}
        if not isinstance(data, dict):
            raise BadRequest(f"{where}: options.{kind}.templateData must be an object")
        text, name = section.get("template") or None, "template"
        if text is not None:
            if not isinstance(text, str):
                raise BadRequest(f"{where}: options.{kind}.template must be a string")
            text = _inline_template(text, f"{where}: options.{kind}.template")
        elif section.get("templateFile"):
            path = resolve(str(section["templateFile"]))
            try:
                text, name = path.read_text(), path.name
            except OSError as exc:
                raise BadRequest(f"{where}: options.{kind}.templateFile {path}: {exc.strerror}") from None
        if text is None:
            return cls(Template(default_name, default_text, FUNCTIONS), data=go_json(data))
        try:
            template = Template(name, text, FUNCTIONS)
        except TemplateError as exc:
            raise BadRequest(f"{where}: options.{kind} template: {exc.message}") from None
        return cls(template, custom=True, data=go_json(data))


def _inline_template(text: str, where: str) -> str:
    """An inline ``template`` as step-ca reads it (it wins over ``templateFile``): JSON
    template text when it starts with ``{`` (trimmed), else the base64 of one."""
    text = text.strip()
    if text.startswith("{"):
        return text
    try:
        return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True).decode()
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where} is neither a template (starting with '{{') nor the base64 of one") from None


#: ``options.ssh``: the SSH certificate template, as ``options.x509`` is the X.509 one.
SshOptions = X509Options


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
