"""The interpreter against the real Go text/template + sprig, case by case: identical output,
or both fail in the same phase (parsing or executing)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.templates import TemplateError, TemplateFail, render
from tests.templates.conftest import GoRender
from tests.templates.corpus import DATA, KNOWN_DIFFERENCES, hand_written

pytestmark = pytest.mark.slow


def python_render(case: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "out": render(case["template"], case["data"], name="t")}
    except TemplateFail as exc:  # the author's message alone, as step-ca shows it; raised while executing
        return {"ok": False, "out": f"executing: {exc.message}"}
    except TemplateError as exc:
        return {"ok": False, "out": exc.message}


def _phase(error: str) -> str:
    """Whether a failure happened while parsing or while executing (Go says "executing")."""
    return "exec" if "executing" in error or error == "panic" else "parse"


def disagreements(cases: list[dict[str, Any]], go_render: GoRender) -> list[str]:
    found = []
    for case, go in zip(cases, go_render(cases)):
        mine = python_render(case)
        if case["template"] in KNOWN_DIFFERENCES:
            continue
        if mine["ok"] != go["ok"] or (go["ok"] and mine["out"] != go["out"]) or (
                not go["ok"] and _phase(go["out"]) != _phase(mine["out"])):
            found.append(f"{case['template']!r}: go={go} python={mine}")
    return found


def test_hand_written_corpus_agrees_with_go(go_render: GoRender) -> None:
    cases = hand_written()
    assert len(cases) > 1000
    found = disagreements(cases, go_render)
    assert not found, f"{len(found)} of {len(cases)} disagree:\n" + "\n".join(found)


_ATOMS = [".s", ".e", ".n", ".f", ".t", ".no", ".nil", ".l", ".m", ".m.x", ".m.missing", "1", "0", "-2", "2.5",
          "\"a\"", "\"\"", "true", "$", "(list 1 \"b\")", "(dict \"k\" .n)"]
_UNARY = ["len", "not", "upper", "lower", "trim", "toJson", "empty", "quote", "first", "kindOf", "typeOf", "add1",
          "toString", "b64enc", "html", "js", "print", "default \"d\"", "printf \"%v\"", "printf \"%q\"", "printf \"%d\"",
          "join \",\"", "int", "float64", "title", "repeat 2", "index", "sortAlpha", "reverse", "compact",
          "regexFind \"[a-z]+\"", "regexFindAll \"\\\\w\" -1 |", "splitList \",\"", "b64dec", "sha256sum", "nospace",
          "toPrettyJson", "toRawJson", "last", "rest", "uniq", "squote", "cat", "int64", "add1",
          "trimAll \"a\"", "trunc 2", "substr 1 3", "nindent 2", "htmlDate", "duration", "toString", "ceil", "floor",
          "base", "ext", "clean", "typeIs \"string\"", "kindIs \"map\"", "printf \"%5.1f|%-4s|%x\"", "urlquery"]
_BINARY = ["eq", "ne", "lt", "le", "gt", "ge", "and", "or", "add", "sub", "mul", "max", "min", "print", "cat",
           "list", "coalesce", "hasPrefix", "contains", "index", "default", "ternary \"x\"", "has", "concat",
           "div", "mod", "dict", "get", "hasKey", "pluck", "without", "append", "prepend", "slice", "replace \"a\"",
           "regexMatch", "regexReplaceAll \"[aeiou]\"", "splitn \",\"", "dig \"k\"", "deepEqual", "chunk",
           "repeat", "printf \"%v-%v\"", "set (dict) \"k\"", "merge"]


@st.composite
def _expression(draw: st.DrawFn, depth: int = 0) -> str:
    choice = draw(st.integers(0, 3 if depth < 2 else 0))
    if choice == 0:
        return draw(st.sampled_from(_ATOMS))
    if choice == 1:
        return f"({draw(st.sampled_from(_UNARY))} {draw(_expression(depth + 1))})"
    if choice == 2:
        return f"({draw(st.sampled_from(_BINARY))} {draw(_expression(depth + 1))} {draw(_expression(depth + 1))})"
    return f"({draw(_expression(depth + 1))} | {draw(st.sampled_from(_UNARY))})"


@st.composite
def _template(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["text", "action", "if", "range", "with", "var"]))
        expr = draw(_expression())
        left, right = draw(st.sampled_from(["{{", "{{- "])), draw(st.sampled_from(["}}", " -}}"]))
        if kind == "text":
            parts.append(draw(st.sampled_from(["x", " ", "\n", "  y  ", ""])))
        elif kind == "action":
            parts.append(f"{left}{expr}{right}")
        elif kind == "var":
            parts.append(f"{left}$v := {expr}{right}[{{{{ $v }}}}]")
        elif kind == "if":
            parts.append(f"{left}if {expr}{right}T{{{{ else }}}}F{{{{ end }}}}")
        elif kind == "range":
            parts.append(f"{left}range $i, $e := {expr}{right}{{{{ $i }}}}={{{{ $e }}}};{{{{ else }}}}none{{{{ end }}}}")
        else:
            parts.append(f"{left}with {expr}{right}<{{{{ . }}}}>{{{{ end }}}}")
    return "".join(parts)


def test_generated_templates_agree_with_go(go_render: GoRender) -> None:
    """Hypothesis draws templates (nested calls, pipelines, control structures, trim markers);
    all are rendered in one Go process run, so the comparison is batched."""
    cases: list[dict[str, Any]] = []

    @settings(max_examples=1500, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(_template())
    def collect(template: str) -> None:
        cases.append({"template": template, "data": DATA})

    collect()
    assert len(cases) >= 1000
    found = disagreements(cases, go_render)
    assert not found, f"{len(found)} of {len(cases)} disagree:\n" + "\n".join(found[:40])


_FRAGMENTS = ["{{", "}}", "{{- ", " -}}", "{{/* c */}}", "{{- /* c */ -}}", " ", "\n", "x", ".s", ".m.x", "$", "$v",
              ":=", "=", "|", "(", ")", "\"q\"", "`r`", "'c'", "1", "-1", "1.5", "if", "else", "end", "range", "with",
              "define", "template", "block", "\"t\"", "break", "continue", "nil", "true", "len", "print", "upper",
              ",", "-", "}", "{", "/*", "*/", "$i, $e :=", "else if", ".l", "index", "eq"]


def test_generated_token_soup_fails_or_renders_as_go_does(go_render: GoRender) -> None:
    """Random sequences of the language's tokens (mostly malformed): the lexer and parser accept and
    refuse exactly what Go's do, and what they accept renders the same."""
    cases: list[dict[str, Any]] = []

    @settings(max_examples=1500, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=12))
    def collect(parts: list[str]) -> None:
        cases.append({"template": "".join(parts), "data": DATA})

    collect()
    found = disagreements(cases, go_render)
    assert not found, f"{len(found)} of {len(cases)} disagree:\n" + "\n".join(found[:40])


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text("abc", min_size=1, max_size=2),
                                                                      children, max_size=3),
    max_leaves=8)
_ON_DATA = [
    "{{ . }}", "{{ toJson . }}", "{{ toPrettyJson . }}", '{{ printf "%v|%q|%d|%x|%s|%#v" . . . . . . }}',
    '{{ printf "%6.2f|%-8v|%+d|%T" . . . . }}', "{{ len . }}", "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
    "{{ empty . }}", "{{ quote . }}", "{{ squote . }}", "{{ if . }}t{{ else }}f{{ end }}", "{{ index . 0 }}",
    "{{ .a }}", "{{ .a.b }}", "{{ first . }}", '{{ join "," . }}', '{{ default "d" . }}', "{{ kindOf . }}",
    "{{ typeOf . }}", "{{ sortAlpha . }}", "{{ toString . }}", "{{ int . }}", "{{ float64 . }}", "{{ uniq . }}",
    "{{ compact . }}", "{{ deepCopy . | toJson }}", "{{ print . }}", "{{ println . . }}", "{{ eq . . }}",
    "{{ html . }}", "{{ js . }}", "{{ urlquery . }}", "{{ upper . }}", "{{ title . }}", "{{ b64enc . }}",
    '{{ regexFindAll "[a-z]" . -1 }}', '{{ splitList "a" . }}', "{{ nospace . }}", "{{ keys . | sortAlpha }}",
]


def test_generated_data_renders_as_go_renders_it(go_render: GoRender) -> None:
    """Hypothesis draws JSON data (nulls, floats at the edges, Unicode, nesting) for fixed templates."""
    cases: list[dict[str, Any]] = []

    @settings(max_examples=150, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(_JSON)
    def collect(value: Any) -> None:
        cases.extend({"template": template, "data": value} for template in _ON_DATA)

    collect()
    found = disagreements(cases, go_render)
    assert not found, f"{len(found)} of {len(cases)} disagree:\n" + "\n".join(found[:40])
