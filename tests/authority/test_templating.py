"""Certificates shaped by provisioner templates (options.x509), through Authority.sign."""

from __future__ import annotations

import base64
import datetime
import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.authority.authority import Authority
from appliance.authority.interfaces import SignRequest
from appliance.config.errors import ConfigError
from appliance.errors import BadRequest
from appliance.jose import sign
from appliance.policy import NamesRefused
from appliance.provisioner import Names, ProvisionerExtension
from appliance.templates import TemplateFail
from tests.ca_fixtures import TestCA, make_csr, new_key
from tests.conftest import run_openssl

MakeAuthority = Callable[..., tuple[Authority, TestCA]]

CUSTOM = """{
  "subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": {{ toJson .organization }},
              "organizationalUnit": {{ toJson .Insecure.User.team }}},
  "sans": {{ toJson .SANs }},
  "emailAddresses": [{{ toJson .Token.email }}],
  "keyUsage": ["digitalSignature"],
  "extKeyUsage": ["codeSigning", "clientAuth"],
  "policyIdentifiers": ["1.3.6.1.4.1.55555.1.2"],
  "extensions": [{"id": "1.3.6.1.4.1.55555.7", "critical": false, "value": {{ asn1Enc "utf8:hello" | toJson }}}]
}"""


def _x509(template: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(extra)
    if template is not None:
        body["template"] = template
    return {"options": {"x509": body}}


def _token_with(ca: TestCA, subject: str, sans: list[str], **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ca.provisioner, "aud": ca.audience(), "sub": subject, "nbf": now, "iat": now, "exp": now + 300,
            "jti": uuid.uuid4().hex, "sha": ca.fingerprint, "sans": sans, **claims}
    return sign(body, ca.provisioner_key)


def _compare_fields(mine: x509.Certificate, reference: x509.Certificate) -> None:
    """Equal but for serial, validity, key (and so SKI) and signature."""
    assert mine.subject == reference.subject and mine.issuer == reference.issuer
    assert mine.signature_hash_algorithm.name == reference.signature_hash_algorithm.name  # type: ignore[union-attr]
    skipped = {x509.SubjectKeyIdentifier.oid}
    ours = [(e.oid, e.critical, e.value) for e in mine.extensions if e.oid not in skipped]
    theirs = [(e.oid, e.critical, e.value) for e in reference.extensions if e.oid not in skipped]
    assert ours == theirs


@pytest.mark.parametrize("key_kind", ["EC", "RSA", "Ed25519"])
@pytest.mark.parametrize("names", [["host.test", "10.0.0.7", "ops@host.test"], []])
def test_default_template_gives_todays_leaf(make_authority: MakeAuthority, key_kind: str, names: list[str]) -> None:
    authority, ca = make_authority()
    key = new_key(key_kind)
    csr, _ = make_csr("host.test", names or None, key)
    issued = authority.sign(SignRequest(csr=csr, token=ca.token("host.test", sans=names or None)))
    provisioner = authority.provisioner(ca.provisioner)
    expected_names = Names.parse(names or ["host.test"])
    now = datetime.datetime.now(datetime.timezone.utc)
    reference = authority.leaf_signer.new_leaf(
        common_name="host.test", san=expected_names.general_names(), public_key=key.public_key(),  # type: ignore[arg-type]
        not_before=now, not_after=now + datetime.timedelta(hours=1),
        extensions=[provisioner.extension.to_extension()])
    _compare_fields(issued.certificate, reference)


def test_custom_template_shapes_the_certificate_as_openssl_shows(make_authority: MakeAuthority, tmp_path: Path) -> None:
    authority, ca = make_authority(provisioner=_x509(CUSTOM, templateData={"organization": "Acme Corp"}))
    csr, _ = make_csr("host.test", ["host.test"], new_key("EC"))
    token = _token_with(ca, "host.test", ["host.test"], email="joe@host.test")
    issued = authority.sign(SignRequest(csr=csr, token=token, template_data={"team": "Platform"}))
    cert = issued.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Corp"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "Platform"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.CLIENT_AUTH]
    raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.55555.7")).value
    assert raw.value == b"\x0c\x05hello"  # type: ignore[attr-defined]
    assert ProvisionerExtension.from_certificate(cert) is not None
    path = tmp_path / "leaf.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    text = run_openssl("x509", "-in", path, "-noout", "-text").stdout
    assert "O = Acme Corp, OU = Platform, CN = host.test" in text
    assert "Code Signing, TLS Web Client Authentication" in text
    assert "Policy: 1.3.6.1.4.1.55555.1.2" in text
    assert "1.3.6.1.4.1.55555.7:" in text and "..hello" in text
    assert "email:joe@host.test" in text and "DNS:host.test" in text
    assert authority.database.get_certificate(str(cert.serial_number)) is not None


def test_template_fail_refuses_with_its_message_and_issues_nothing(make_authority: MakeAuthority) -> None:
    template = '{{ if not (hasSuffix ".corp" .Subject.CommonName) }}{{ fail "only .corp names" }}{{ end }}{}'
    authority, ca = make_authority(provisioner=_x509(template))
    csr, _ = make_csr("host.test", None, new_key("EC"))
    with pytest.raises(TemplateFail, match="only .corp names") as raised:
        authority.sign(SignRequest(csr=csr, token=ca.token("host.test")))
    assert isinstance(raised.value, BadRequest)


def test_template_names_pass_the_policy(make_authority: MakeAuthority) -> None:
    template = '{"subject": {"commonName": "host.test"}, "sans": [{"type": "dns", "value": "evil.example"}]}'
    authority, ca = make_authority(provisioner={**_x509(template), "policy": {"x509": {"allow": {"dns": ["*.test", "host.test"]}}}})
    csr, _ = make_csr("host.test", None, new_key("EC"))
    with pytest.raises(NamesRefused):
        authority.sign(SignRequest(csr=csr, token=ca.token("host.test")))


@pytest.mark.parametrize("template, message", [
    ("{{ .Subject", "unclosed action"),
    ("{{ nosuchfunction }}", "not defined"),
])
def test_a_template_that_does_not_parse_stops_the_ca(make_authority: MakeAuthority, template: str,
                                                     message: str) -> None:
    with pytest.raises(BadRequest, match=f"provisioner '.*'.*{message}"):
        make_authority(provisioner=_x509(template))


@pytest.mark.parametrize("output, message", [
    ("{not json", "valid JSON"),  # an inline template not starting with "{" is base64 (as step-ca)
    ('{"serialNumber": 5}', "unsupported fields serialNumber"),
    ('{"keyUsage": ["flying"]}', "unsupported keyUsage"),
    ('{"sans": [{"type": "dns", "value": "x"}], "extensions": [{"id": "nope", "value": "AA=="}]}', "object identifier"),
])
def test_bad_template_output_is_a_bad_request(make_authority: MakeAuthority, output: str, message: str) -> None:
    authority, ca = make_authority(provisioner=_x509(output))
    csr, _ = make_csr("host.test", None, new_key("EC"))
    with pytest.raises(BadRequest, match=message):
        authority.sign(SignRequest(csr=csr, token=ca.token("host.test")))


def test_template_file_and_basic_constraints(make_authority: MakeAuthority, tmp_path: Path) -> None:
    path = tmp_path / "leaf.tpl"
    path.write_text('{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, '
                    '"basicConstraints": {"isCA": false}, "keyUsage": "digitalSignature"}')
    authority, ca = make_authority(provisioner={"options": {"x509": {"templateFile": str(path)}}})
    csr, _ = make_csr("host.test", None, new_key("EC"))
    cert = authority.sign(SignRequest(csr=csr, token=ca.token("host.test"))).certificate
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_an_inline_template_in_base64_and_before_the_file(make_authority: MakeAuthority, tmp_path: Path) -> None:
    """step-ca reads an inline ``template`` that does not start with ``{`` as base64, and
    prefers it to ``templateFile``."""
    template = '{"subject": {"commonName": "from base64"}, "sans": {{ toJson .SANs }}}'
    encoded = base64.b64encode(template.encode()).decode()
    path = tmp_path / "leaf.tpl"
    path.write_text('{"subject": {"commonName": "from the file"}, "sans": {{ toJson .SANs }}}')
    authority, ca = make_authority(provisioner={"options": {"x509": {"template": f"\n{encoded[:8]}\n{encoded[8:]}\n",
                                                                     "templateFile": str(path)}}})
    csr, _ = make_csr("host.test", None, new_key("EC"))
    cert = authority.sign(SignRequest(csr=csr, token=ca.token("host.test"))).certificate
    assert cert.subject.rfc4514_string() == "CN=from base64"


def test_acme_orders_render_the_acme_provisioners_template(make_authority: MakeAuthority) -> None:
    template = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": "ACME Co"}, '
                '"sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]}')
    acme = {"type": "ACME", "name": "acme", "forceCN": True, "options": {"x509": {"template": template}}}
    authority, _ = make_authority(authority={"provisioners": [acme]})
    provisioner = authority.provisioner("acme")
    csr, _ = make_csr("", ["www.host.test"], new_key("EC"))
    issued = authority.sign_for_order(csr, provisioner, Names.parse(["www.host.test"]))  # type: ignore[arg-type]
    cert = issued.certificate
    assert cert.subject.rfc4514_string() == "CN=www.host.test,O=ACME Co"  # DER order: O, then CN (as Go)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_subject_in_gos_order(make_authority: MakeAuthority) -> None:
    """Go's pkix order; several values of one field would make one multi-valued RDN, as Go does (and
    the linter refuses it: pkix.rdn_contains_duplicate_attribute_types)."""
    template = ('{"subject": {"commonName": "host.test", "organization": ["A Org"], "country": "NL", '
                '"serialNumber": "42", "locality": "Delft"}, "sans": {{ toJson .SANs }}}')
    authority, ca = make_authority(provisioner=_x509(template))
    csr, _ = make_csr("host.test", None, new_key("EC"))
    subject = authority.sign(SignRequest(csr=csr, token=ca.token("host.test"))).certificate.subject
    assert [[(a.oid, a.value) for a in rdn] for rdn in subject.rdns] == [
        [(NameOID.COUNTRY_NAME, "NL")], [(NameOID.LOCALITY_NAME, "Delft")],
        [(NameOID.ORGANIZATION_NAME, "A Org")],
        [(NameOID.COMMON_NAME, "host.test")], [(NameOID.SERIAL_NUMBER, "42")]]


@pytest.mark.parametrize("options, message", [
    ({"ssh": {"template": "{{ .Type"}}, "options.ssh template"),
    ({"nebula": {}}, "options.nebula not supported"),
    ({"wire": {"oidc": {}}}, "options.wire not supported"),  # step-ca's ACME Wire integration: not here
    ({"x509": {"template": "not a template!"}}, "options.x509.template is neither a template"),
    ({"x509": {"template": "{}", "allow": {}}}, "unsupported fields allow"),
    ({"x509": {"templateFile": "/nonexistent/leaf.tpl"}}, "templateFile /nonexistent/leaf.tpl"),
    ({"x509": {"templateData": ["not", "an", "object"]}}, "templateData must be an object"),
])
def test_options_that_cannot_act_stop_the_ca(make_authority: MakeAuthority, options: dict[str, Any],
                                             message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        make_authority(provisioner={"options": options})


FROM_CSR = """{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
{{- if .Insecure.CR.KeyUsage }}
  "keyUsage": {{ toJson .Insecure.CR.KeyUsage }},
{{- else }}
  "keyUsage": ["digitalSignature"],
{{- end }}
  "extKeyUsage": {{ toJson .Insecure.CR.ExtKeyUsage }},
  "unknownExtKeyUsage": {{ toJson .Insecure.CR.UnknownExtKeyUsage }},
  "basicConstraints": {{ toJson .Insecure.CR.BasicConstraints }},
  "policyIdentifiers": [{{ printf "1.3.6.1.4.1.55555.%v" .Insecure.CR.KeyUsage | toJson }}]
}"""


def _csr_with_usages(key: Any) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "host.test")]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("host.test")]), critical=False)
    builder = builder.add_extension(x509.KeyUsage(True, False, False, False, True, False, False, False, False), True)
    builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                           x509.ObjectIdentifier("1.3.6.1.4.1.55555.9")]), False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
    return builder.sign(key, hashes.SHA256())


def test_key_usage_eku_and_basic_constraints_taken_from_the_csr(make_authority: MakeAuthority) -> None:
    """step-ca 0.28.4: ``.Insecure.CR.KeyUsage``/``ExtKeyUsage``/``UnknownExtKeyUsage``/
    ``BasicConstraints`` hold the CSR's, so a template may copy them; a CSR without them
    gives Go's zero values (false in ``if``, null in JSON: no extension)."""
    authority, ca = make_authority(provisioner=_x509(FROM_CSR))
    cert = authority.sign(SignRequest(csr=_csr_with_usages(new_key("EC")), token=ca.token("host.test"))).certificate
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_agreement, usage.key_encipherment) == (True, True, False)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.3.6.1.4.1.55555.9")]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert policies[0].policy_identifier.dotted_string == "1.3.6.1.4.1.55555.17"  # Go's bits: 1 | 16

    plain, _ = make_csr("host.test", None, new_key("EC"))
    cert = authority.sign(SignRequest(csr=plain, token=ca.token("host.test"))).certificate
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_agreement) == (True, False)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_authority_template_fills_the_subject_fields_a_certificate_leaves_empty(make_authority: MakeAuthority) -> None:
    """step-ca's ``authority.template`` (an ASN1DN): after the template, before the policies."""
    defaults = {"country": "DE", "organization": "Default Org", "commonName": "fallback"}
    authority, ca = make_authority(authority={"template": defaults}, provisioner=_x509(
        '{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": "Own Org"}, '
        '"sans": {{ toJson .SANs }}}'))
    csr, _ = make_csr("host.test", None, new_key("EC"))
    cert = authority.sign(SignRequest(csr=csr, token=ca.token("host.test"))).certificate
    assert cert.subject.rfc4514_string() == "CN=host.test,O=Own Org,C=DE"

    authority, ca = make_authority(authority={"template": defaults}, provisioner=_x509(
        '{"sans": {{ toJson .SANs }}}'))
    cert = authority.sign(SignRequest(csr=csr, token=ca.token("host.test"))).certificate
    assert cert.subject.rfc4514_string() == "CN=fallback,O=Default Org,C=DE"
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical is False  # subject not empty


def test_a_bad_authority_template_stops_the_ca(make_authority: MakeAuthority) -> None:
    with pytest.raises(ConfigError, match="authority.template.organization"):
        make_authority(authority={"template": {"organization": ["a"]}})


ORGANIZATION_TEMPLATE = ('{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": %s}, '
                         '"sans": {{ toJson .SANs }}, "keyUsage": ["digitalSignature"], "extKeyUsage": ["serverAuth"]}')


def _write_under_steppath(steppath: Path, relative: str, organization: str) -> None:
    path = steppath / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ORGANIZATION_TEMPLATE % json.dumps(organization))


def test_a_relative_template_file_resolves_against_steppath_not_the_working_directory(
        make_authority: MakeAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """step-ca's ``step.Abs``: ``templates/x509/leaf.tpl`` is $STEPPATH's (the directory above
    config/ca.json), even when the working directory holds a file of the same name."""
    _write_under_steppath(tmp_path / "ca0", "templates/x509/leaf.tpl", "From STEPPATH")
    elsewhere = tmp_path / "elsewhere"
    _write_under_steppath(elsewhere, "templates/x509/leaf.tpl", "From the working directory")
    monkeypatch.chdir(elsewhere)
    authority, ca = make_authority(provisioner={"options": {"x509": {"templateFile": "templates/x509/leaf.tpl"}}})
    csr, _ = make_csr("host.test", None, new_key("EC"))
    cert = authority.sign(SignRequest(csr=csr, token=ca.token("host.test"))).certificate
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "From STEPPATH"
    issued = tmp_path / "issued.pem"
    issued.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert "O = From STEPPATH" in run_openssl("x509", "-noout", "-subject", "-in", issued).stdout


def test_an_acme_profiles_relative_template_file_resolves_against_steppath(
        make_authority: MakeAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_under_steppath(tmp_path / "ca0", "templates/acme/client.tpl", "Profile Co")
    monkeypatch.chdir(tmp_path)
    acme = {"type": "ACME", "name": "acme", "forceCN": True, "profiles": {
        "custom": {"options": {"x509": {"templateFile": "templates/acme/client.tpl"}}}}}
    authority, _ = make_authority(authority={"provisioners": [acme]})
    provisioner = authority.provisioner("acme").with_profile("custom")  # type: ignore[attr-defined]
    csr, _ = make_csr("", ["www.host.test"], new_key("EC"))
    cert = authority.sign_for_order(csr, provisioner, Names.parse(["www.host.test"])).certificate
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Profile Co"


def test_a_relative_template_file_missing_under_steppath_stops_the_ca_naming_the_resolved_path(
        make_authority: MakeAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_under_steppath(tmp_path, "templates/x509/leaf.tpl", "Only in the working directory")
    monkeypatch.chdir(tmp_path)
    resolved = tmp_path / "ca0" / "templates" / "x509" / "leaf.tpl"
    with pytest.raises(BadRequest, match=f"options.x509.templateFile {resolved}: No such file"):
        make_authority(provisioner={"options": {"x509": {"templateFile": "templates/x509/leaf.tpl"}}})


@pytest.mark.parametrize("key_kind", ["EC", "RSA", "Ed25519"])
@pytest.mark.parametrize(("common_name", "names"), [
    ("svc.example.com", ["svc.example.com", "10.0.0.1", "ops@example.com", "spiffe://example.org/a", "::1"]),
    ("", ["only-san.internal"]),
    ("Ünïcödé <&> \"quoted\"\\", []),
    ("lone \ud800 surrogate", ["a.example"]),
])
def test_default_leaf_profile_is_what_the_default_template_renders(key_kind: str, common_name: str,
                                                                     names: list[str]) -> None:
    """The interpreter-free default template gives the profile the template gives (or defers to it)."""
    from appliance.authority.templating import default_leaf_profile, render_profile, template_data
    from appliance.provisioner.options import X509Options

    key = new_key(key_kind)
    csr, _ = make_csr("csr-cn", ["csr.example"], key)
    options = X509Options.from_config(None, "test")
    parsed = Names.parse(names)
    data = template_data(options, common_name=common_name, names=parsed, csr=csr)
    rendered = render_profile(options, data, key.public_key())
    fast = default_leaf_profile(options, common_name=common_name, names=parsed, csr=csr, public_key=key.public_key())
    if "\ud800" in common_name:
        assert fast is None
        return
    assert fast == rendered
    custom = X509Options.from_config({"x509": {"template": '{"subject": {{ toJson .Subject }}}'}}, "test")
    assert default_leaf_profile(custom, common_name=common_name, names=parsed, csr=csr,
                                public_key=key.public_key()) is None
