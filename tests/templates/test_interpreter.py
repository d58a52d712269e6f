"""The interpreter's own guarantees: bounds, error positions, the sandbox, and step's ASN.1
helpers checked against openssl's decoder."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from appliance.errors import BadRequest
from appliance.templates import FUNCTIONS, Limits, Template, TemplateError, TemplateFail, render


def test_output_too_large_is_stopped() -> None:
    with pytest.raises(TemplateError, match="output is too large"):
        render('{{ range $i := until 100000 }}xxxxxxxxxx{{ end }}', {}, limits=Limits(max_output=1000))


def test_a_long_run_is_stopped() -> None:
    text = '{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}'
    with pytest.raises(TemplateError, match="runs too long"):
        render(text, {}, limits=Limits(max_steps=10_000))


def test_unbounded_recursion_is_stopped() -> None:
    with pytest.raises(TemplateError, match="maximum template depth"):
        render('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}', {})


@pytest.mark.parametrize("text, where", [
    ("line one\n  {{ .x ", "t:2:9: unclosed action"),
    ("{{ if .x }}\n{{ nosuch }}{{ end }}", "t:2:4: function \"nosuch\" not defined"),
    ("a\nb {{ .a.b }}", "t:2:6: executing 't': nil pointer evaluating"),
])
def test_errors_name_the_template_line_and_column(text: str, where: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render(text, {"a": None}, name="t")
    assert where in raised.value.message
    assert isinstance(raised.value, BadRequest)


@pytest.mark.parametrize("name", ["env", "expandenv", "getHostByName", "randAlpha", "uuidv4", "genPrivateKey",
                                  "readFile"])
def test_no_environment_network_randomness_or_files(name: str) -> None:
    assert name not in FUNCTIONS
    with pytest.raises(TemplateError, match="not defined"):
        Template("t", f"{{{{ {name} }}}}", FUNCTIONS)


def test_call_is_refused() -> None:
    with pytest.raises(TemplateError, match="call is not supported"):
        render("{{ call .f }}", {"f": "x"})


def test_fail_carries_the_authors_message() -> None:
    with pytest.raises(TemplateFail, match="^no way$"):
        render('{{ fail "no way" }}', {})


def _asn1parse(tmp_path: Path, b64: str) -> str:
    path = tmp_path / "der"
    path.write_bytes(base64.b64decode(b64))
    return subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", str(path)], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.parametrize("text, shown", [
    ('{{ asn1Enc "hello" }}', "PRINTABLESTRING   :hello"),
    ('{{ asn1Enc "utf8:héllo" }}', "UTF8STRING"),
    ('{{ asn1Enc "ia5:a@b.c" }}', "IA5STRING         :a@b.c"),
    ('{{ asn1Marshal 1234 }}', "INTEGER           :04D2"),
    ('{{ asn1Marshal -1 }}', "INTEGER           :-01"),
    ('{{ asn1Marshal true }}', "BOOLEAN           :255"),
    ('{{ asn1Marshal "x*y" }}', "UTF8STRING        :x*y"),
    ('{{ asn1Seq (asn1Enc "a") (asn1Marshal 5) }}', "cons: SEQUENCE"),
    ('{{ asn1Set (asn1Enc "utf8:b") }}', "cons: SET"),
])
def test_asn1_helpers_give_der_openssl_reads(tmp_path: Path, text: str, shown: str) -> None:
    assert shown in _asn1parse(tmp_path, render(text, {}))


def test_asn1_printable_refuses_what_printable_cannot_hold() -> None:
    with pytest.raises(TemplateError, match="PrintableString contains invalid character"):
        render('{{ asn1Enc "a@b" }}', {})


@pytest.mark.parametrize("text", ['{{ repeat 100000000 "x" }}', "{{ until 100000000 }}", "{{ seq 1 100000000 }}"])
def test_functions_cannot_build_huge_values(text: str) -> None:
    with pytest.raises(TemplateError, match="too large"):
        render(text, {})
