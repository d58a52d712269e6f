"""smallstep/crypto's default templates and the step-ca documentation's examples, rendered by
Go (template data as maps) and by the interpreter, and the appliance's own data (Go structs
emulated) giving the same JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appliance.authority.templating import template_data
from appliance.provisioner import Names
from appliance.provisioner.options import DEFAULT_LEAF_TEMPLATE, X509Options
from appliance.templates import render
from tests.ca_fixtures import make_csr, new_key
from tests.templates.conftest import GoRender

pytestmark = pytest.mark.slow

INTERMEDIATE = """{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	}
}"""
ROOT = INTERMEDIATE.replace('"maxPathLen": 0', '"maxPathLen": 1')
SSH_DEFAULT = """{
	"type": {{ toJson .Type }},
	"keyId": {{ toJson .KeyID }},
	"principals": {{ toJson .Principals }},
	"extensions": {{ toJson .Extensions }},
	"criticalOptions": {{ toJson .CriticalOptions }}
}"""
DOCS_USER_DATA = """{
	"subject": {
		"country": {{ toJson .Insecure.User.country }},
		"organization": {{ toJson .Insecure.User.organization }},
		"commonName": {{ toJson .Subject.commonName }}
	},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"""
DOCS_EMAIL = """{{- if not .Token.email }}{{ fail "the token has no email" }}{{ end -}}
{
	"subject": {"commonName": {{ toJson .Token.email }}},
	"emailAddresses": {{ toJson (list .Token.email) }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["emailProtection", "clientAuth"]
}"""
DOCS_SANS_LOOP = """{
	"subject": {{ toJson .Subject }},
	"dnsNames": [{{- range $i, $san := .SANs }}{{ if eq $san.type "dns" }}{{ if $i }}, {{ end }}{{ toJson $san.value }}{{ end }}{{- end }}],
	"ipAddresses": {{ toJson .Insecure.CR.IPAddresses }},
	"policyIdentifiers": {{ toJson (default (list "2.23.140.1.2.1") .policies) }},
	"crlDistributionPoints": {{ toJson (printf "http://%s/crl" (default "ca.local" .crlHost)) }}
}"""
DOCS_OU = """{
	"subject": {
		"commonName": {{ toJson .Subject.commonName }},
		"organizationalUnit": {{ toJson (.Token.groups | default (list) | sortAlpha | uniq) }}
	},
	"sans": {{ toJson .SANs }},
	"keyUsage": {{ toJson (ternary (list "digitalSignature" "keyEncipherment") (list "digitalSignature") (eq .keyType "RSA")) }},
	"extKeyUsage": ["clientAuth"]
}"""

MAP_DATA: dict[str, Any] = {
    "Subject": {"commonName": "host.example.com"},
    "SANs": [{"type": "dns", "value": "host.example.com"}, {"type": "dns", "value": "www.example.com"},
             {"type": "ip", "value": "10.1.2.3"}],
    "Token": {"sub": "host.example.com", "email": "joe@example.com", "groups": ["ops", "dev", "ops"]},
    "Insecure": {"CR": {"PublicKey": "not a Go key here", "IPAddresses": ["10.1.2.3"]},
                 "User": {"country": "NL", "organization": ["Acme", "Acme Labs"]}},
    "Type": "user", "KeyID": "joe", "Principals": ["joe", "root"], "Extensions": {"permit-pty": ""},
    "CriticalOptions": {}, "keyType": "EC", "policies": None, "crlHost": "ca.example.com",
}
TEMPLATES = {"leaf": DEFAULT_LEAF_TEMPLATE, "intermediate": INTERMEDIATE, "root": ROOT, "ssh": SSH_DEFAULT,
             "docs-user-data": DOCS_USER_DATA, "docs-email": DOCS_EMAIL, "docs-sans-loop": DOCS_SANS_LOOP,
             "docs-ou": DOCS_OU}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_step_templates_render_as_go_renders_them(go_render: GoRender, name: str) -> None:
    go = go_render([{"template": TEMPLATES[name], "data": MAP_DATA}])[0]
    assert go["ok"], go
    mine = render(TEMPLATES[name], MAP_DATA, name="t")
    assert mine == go["out"]
    json.loads(mine)  # every one of them is a JSON certificate description


def test_email_template_fails_as_go_does_without_email(go_render: GoRender) -> None:
    data = {**MAP_DATA, "Token": {"sub": "x"}}
    go = go_render([{"template": DOCS_EMAIL, "data": data}])[0]
    assert not go["ok"] and "the token has no email" in go["out"]
    with pytest.raises(Exception, match="the token has no email"):
        render(DOCS_EMAIL, data)


@pytest.mark.parametrize("key_kind, usages", [("EC", ["digitalSignature"]),
                                              ("RSA", ["keyEncipherment", "digitalSignature"])])
def test_default_leaf_with_the_appliances_data_matches_step_ca(go_render: GoRender, key_kind: str,
                                                               usages: list[str]) -> None:
    """Our template data (Go structs emulated, the key's Go type for typeIs) renders the default leaf
    template to the JSON step-ca renders (its Subject/SANs marshal as the maps given to Go here)."""
    csr, _ = make_csr("host.example.com", ["host.example.com", "10.1.2.3"], new_key(key_kind))
    names = Names.parse(["host.example.com", "10.1.2.3"])
    data = template_data(X509Options.from_config(None, "test"), common_name="host.example.com", names=names, csr=csr)
    mine = json.loads(render(DEFAULT_LEAF_TEMPLATE, data))
    go_data = {**MAP_DATA, "SANs": [{"type": "dns", "value": "host.example.com"}, {"type": "ip", "value": "10.1.2.3"}]}
    go = json.loads(go_render([{"template": DEFAULT_LEAF_TEMPLATE, "data": go_data}])[0]["out"])
    go["keyUsage"] = usages  # Go's map data has no *rsa.PublicKey; the branch is checked by key type below
    assert mine == go
