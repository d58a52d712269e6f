"""Hand-written templates for the differential tests: every construct of the language, the
builtins, the sprig functions the interpreter offers, printf verbs, and failures."""

from __future__ import annotations

import itertools
from typing import Any

DATA: dict[str, Any] = {
    "s": "Hello, World", "e": "", "n": 3.0, "f": 2.5, "z": 0.0, "big": 1234567.0, "neg": -7.0, "t": True,
    "no": False, "nil": None, "l": ["a", "b", "c"], "nums": [1.0, 2.0, 3.0], "empty": [], "m": {"x": 1.0, "y": "two",
    "z": None, "nested": {"k": "v"}}, "em": {}, "mixed": ["x", 1.0, True, None, {"a": "b"}, ["n"]],
    "Subject": {"commonName": "host.example.com", "organization": ["Acme"]},
    "SANs": [{"type": "dns", "value": "host.example.com"}, {"type": "ip", "value": "10.0.0.1"}],
    "html": "<a href=\"x\">&'</a>", "uni": "héllo wörld ✓", "spaces": "  padded\t\n", "csv": "a,b,,c",
    "ws": "a b  c", "num": "42", "hex": "0x1f", "Token": {"sub": "joe", "email": "joe@example.com"},
}

STRUCTURE = [
    "plain text", "", "{{/* a comment */}}x", "a {{- /* trimmed */ -}} b", "a  {{- 1 -}}  b", "a {{- 1}} b",
    "a {{1 -}} b", "{{-3}}", "{{ -3 }}", "{{.s}}", "{{ .m.x }}", "{{ .m.nested.k }}", "{{ .m.missing }}",
    "{{ .m.missing.deeper }}", "{{ .m.z }}", "{{ .m.z.deeper }}", "{{ .s.x }}", "{{ .nil }}", "{{ . }}",
    "{{ .l }}", "{{ .m }}", "{{ .mixed }}", "{{ .em }}", "{{ .empty }}", "{{ .n }}", "{{ .f }}", "{{ .big }}",
    "{{ .neg }}", "{{ .z }}", "{{ .t }}", "{{ 1 }}", "{{ 1.0 }}", "{{ 1e3 }}", "{{ 0x1F }}", "{{ 0o17 }}",
    "{{ 0b101 }}", "{{ 'a' }}", "{{ 1_000 }}", "{{ -0.5 }}", "{{ \"str\\n\\t\" }}", "{{ `raw\\n` }}",
    "{{ true }}", "{{ nil }}", "{{ $x := 1 }}{{ $x }}", "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
    "{{ $x := .s }}{{ $x | len }}", "{{ $ }}", "{{ $.s }}", "{{ $y }}", "{{ $x = 1 }}",
    "{{ if .t }}yes{{ end }}", "{{ if .no }}yes{{ else }}no{{ end }}", "{{ if .e }}a{{ else if .n }}b{{ end }}",
    "{{ if .e }}a{{ else if .z }}b{{ else }}c{{ end }}", "{{ if .empty }}a{{ else }}b{{ end }}",
    "{{ if .em }}a{{ else }}b{{ end }}", "{{ if .nil }}a{{ else }}b{{ end }}", "{{ if .m.missing }}a{{ end }}",
    "{{ if $x := .s }}{{ $x }}{{ end }}", "{{ if $x := .e }}{{ $x }}{{ else }}[{{ $x }}]{{ end }}",
    "{{ range .l }}{{ . }},{{ end }}", "{{ range $i, $v := .l }}{{ $i }}:{{ $v }} {{ end }}",
    "{{ range $v := .nums }}{{ $v }}{{ end }}", "{{ range .empty }}x{{ else }}empty{{ end }}",
    "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", "{{ range .nil }}x{{ else }}none{{ end }}",
    "{{ range .l }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
    "{{ range .l }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", "{{ range .s }}x{{ end }}",
    "{{ range .n }}x{{ end }}", "{{ range $i, $e := .mixed }}{{ $i }}{{ $e }}|{{ end }}",
    "{{ range .l }}{{ $.s }}{{ end }}", "{{ with .s }}{{ . }}{{ end }}", "{{ with .e }}x{{ else }}y{{ end }}",
    "{{ with $x := .m }}{{ $x.y }}{{ end }}", "{{ with .m.nested }}{{ .k }}{{ end }}",
    "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" .s }}", "{{ define \"t\" }}T{{ end }}{{ template \"t\" }}",
    "{{ template \"missing\" }}", "{{ block \"b\" .l }}{{ len . }}{{ end }}",
    "{{ define \"r\" }}{{ if . }}{{ len . }}{{ template \"r\" (rest .) }}{{ end }}{{ end }}{{ template \"r\" .l }}",
    "{{ break }}", "{{ end }}", "{{ if }}{{ end }}", "{{ if .t }}", "{{ else }}", "{{ .s | }}", "{{ | .s }}",
    "{{ (1) }}", "{{ (len .l) }}", "{{ (.m).x }}", "{{ (.m.nested).k }}", "{{ .s | printf \"%s!\" }}",
    "{{ .l | len | printf \"%d\" }}", "{{ 1 | 2 }}", "{{ .s 1 }}", "{{ .m.x 1 }}", "{{ 1 2 }}", "{{ nosuch }}",
    "{{ \"unterminated }}", "{{ .s ) }}", "{{ ( .s }}", "{{ $x := 1 }}{{ if .t }}{{ $x := 2 }}{{ end }}{{ $x }}",
    "{{ $x := 1 }}{{ if .t }}{{ $x = 2 }}{{ end }}{{ $x }}", "{{ range $i, $v := .l }}{{ end }}{{ $i }}",
    "line1\n{{ .nosuch.x.y }}\nline3", "{{.m.y}}{{/* c */}}{{.m.y}}", "{{- .s -}}", "  {{- .s }}  ",
    "{{ \"a\" }}{{ \"b\" -}}\n\n  c", "{{ 'ab' }}", "{{ 1.5e400 }}", "{{ 9223372036854775807 }}",
    "{{ 9223372036854775808 }}", "{{ 0x }}", "{{ .Subject.commonName }}", "{{ range .SANs }}{{ .type }}:{{ .value }} {{ end }}",
    "{{ define \"a\" }}A{{ end }}{{ define \"a\" }}B{{ end }}", "{{ $x := 1 }}{{ $x := \"s\" }}{{ $x }}",
    "{{ with .l }}{{ index . 1 }}{{ end }}", "{{ $v := .l }}{{ range $v }}{{ . }}{{ end }}",
    "{{ range $i, $v := .l }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $v }}{{ end }}",
]

BUILTINS = [
    "{{ and 1 0 }}", "{{ and 1 2 }}", "{{ and .t .s }}", "{{ or 0 \"\" }}", "{{ or 0 .s }}", "{{ not .t }}",
    "{{ not .e }}", "{{ and }}", "{{ .s | and 1 }}", "{{ or .nil .e }}", "{{ eq 1 1 }}", "{{ eq 1 2 3 1 }}",
    "{{ eq .n 3.0 }}", "{{ eq .n 3 }}", "{{ eq \"a\" \"a\" }}", "{{ eq .s .s }}", "{{ eq .t true }}",
    "{{ eq .nil .nil }}", "{{ eq .m.missing \"x\" }}", "{{ eq .l .l }}", "{{ ne 1 2 }}", "{{ ne \"a\" 1 }}",
    "{{ lt 1 2 }}", "{{ lt 2.5 .f }}", "{{ le .f 2.5 }}", "{{ gt \"b\" \"a\" }}", "{{ ge 1 1 }}", "{{ lt true false }}",
    "{{ lt 1 1.5 }}", "{{ lt .nil 1 }}", "{{ len .s }}", "{{ len .l }}", "{{ len .m }}", "{{ len .uni }}",
    "{{ len 3 }}", "{{ len .nil }}", "{{ index .l 0 }}", "{{ index .l 3 }}", "{{ index .l -1 }}",
    "{{ index .m \"x\" }}", "{{ index .m \"missing\" }}", "{{ index .m.nested \"k\" }}", "{{ index .s 1 }}",
    "{{ index .mixed 4 \"a\" }}", "{{ index .l }}", "{{ index .nil 1 }}", "{{ index .l 1.0 }}", "{{ index .m 1 }}",
    "{{ print }}", "{{ print 1 2 }}", "{{ print \"a\" \"b\" }}", "{{ print 1 \"a\" 2 }}", "{{ print .l .m }}",
    "{{ print .nil }}", "{{ println 1 \"a\" }}", "{{ print .n .f }}", "{{ html .html }}", "{{ js .html }}",
    "{{ urlquery .s \"&x=y\" }}", "{{ urlquery .uni }}", "{{ html 1 2 }}", "{{ js \"a\\nb\" }}",
]

PRINTF_VERBS = ["%#v", "%#g", "%#.3g", "%#e", "%v", "%+v", "%s", "%q", "%d", "%5d", "%-5d|", "%05d", "%x", "%X", "%o", "%b", "%c", "%U", "%e",
                "%E", "%f", "%.2f", "%8.3f", "%g", "%G", "%t", "%T", "%%", "%+d", "% d", "%#x", "%10s|", "%-10s|",
                "%.3s", "%08.3f", "%#o", "%q", "%z", "%d %d"]
PRINTF_ARGS = ["1", "-42", ".n", ".f", ".big", "\"str\"", ".t", ".nil", ".l", ".nums", ".m.nested", "255", "'x'",
               ".uni", "0.000012345", "1e21", ".z"]

SPRIG_STRINGS = ["trim", "upper", "lower", "title", "untitle", "nospace", "b64enc", "b32enc", "sha1sum", "sha256sum",
                 "adler32sum", "toString", "quote", "squote", "cat", "swapcase", "toJson", "toRawJson",
                 "toPrettyJson", "empty", "kindOf", "typeOf", "toStrings", "sortAlpha", "int", "int64", "float64",
                 "atoi", "add1", "regexQuoteMeta", "first", "last", "rest", "initial", "reverse", "uniq", "compact",
                 "b64dec", "b32dec", "list", "fromJson"]
SPRIG_INPUTS = [".s", ".e", ".n", ".f", ".t", ".nil", ".l", ".nums", ".m", ".mixed", ".uni", ".spaces", ".num",
                ".hex", ".html", "\"aGVsbG8=\"", "\"NBSWY3DP\"", "\"{\\\"a\\\": [1, 2]}\"", ".m.missing", "3", "-2"]

SPRIG_CALLS = [
    "{{ trimAll \"H!d\" .s }}", "{{ trimPrefix \"Hello\" .s }}", "{{ trimSuffix \"World\" .s }}",
    "{{ repeat 3 \"ab\" }}", "{{ repeat -1 \"ab\" }}", "{{ substr 0 5 .s }}", "{{ substr 7 100 .s }}",
    "{{ substr -1 3 .s }}", "{{ substr 5 2 .s }}", '{{ substr 1 3 "" }}', '{{ substr -1 30 .s }}',
    '{{ substr 20 30 .s }}', "{{ trunc 5 .s }}", "{{ trunc -5 .s }}", "{{ trunc 50 .s }}",
    "{{ contains \"World\" .s }}", "{{ hasPrefix \"He\" .s }}", "{{ hasSuffix \"x\" .s }}", "{{ indent 4 \"a\\nb\" }}",
    "{{ nindent 2 \"a\" }}", "{{ replace \",\" \";\" .csv }}", "{{ replace \"\" \"-\" \"abc\" }}",
    "{{ plural \"one\" \"many\" 1 }}", "{{ plural \"one\" \"many\" 2 }}", "{{ quote .s .n .nil }}", "{{ cat .s .n .nil .l }}",
    "{{ split \",\" .csv }}", "{{ (split \",\" .csv)._1 }}", "{{ splitList \",\" .csv }}", "{{ splitList \"\" \"abc\" }}",
    "{{ splitn \",\" 2 .csv }}", "{{ join \"-\" .l }}", "{{ join \"-\" .mixed }}", "{{ join \",\" .s }}",
    "{{ sortAlpha (list \"b\" \"a\" \"C\") }}", "{{ until 3 }}", "{{ until -3 }}", "{{ seq 3 }}", "{{ seq 2 5 }}",
    "{{ seq 5 2 }}", "{{ seq 1 2 10 }}", "{{ add 1 2 3 }}", "{{ add .n .f }}", "{{ add \"3\" 4 }}", "{{ sub 5 .n }}",
    "{{ mul 2 3 4 }}", "{{ div 7 2 }}", "{{ div -7 2 }}", "{{ div 1 0 }}", "{{ mod 7 3 }}", "{{ mod -7 3 }}",
    "{{ max 1 5 3 }}", "{{ min 4 .n 9 }}", "{{ biggest 1 2 }}", "{{ add1 .f }}", "{{ default \"d\" .e }}",
    "{{ default \"d\" .s }}", "{{ default \"d\" .m.missing }}", "{{ .e | default \"d\" }}", "{{ default \"d\" 0 }}",
    "{{ default \"d\" .empty }}", "{{ coalesce .e .nil .s }}", "{{ coalesce .e .z }}", "{{ all 1 .s }}",
    "{{ all 1 .e }}", "{{ any .e 0 .t }}", "{{ ternary \"y\" \"n\" .t }}", "{{ ternary \"y\" \"n\" 1 }}",
    "{{ fail \"stop here\" }}", "{{ if .t }}{{ fail \"no\" }}{{ end }}", "{{ toJson .Subject }}", "{{ toJson .SANs }}",
    "{{ toJson .mixed }}", "{{ toJson .big }}", "{{ toJson 1e21 }}", "{{ toJson 0.0000001 }}", "{{ toJson .html }}",
    "{{ toRawJson .html }}", "{{ toPrettyJson .m }}", "{{ toJson (dict \"a\" 1 \"b\" (list 1 \"x\")) }}",
    "{{ regexMatch \"^H.*d$\" .s }}", "{{ regexMatch \"[\" .s }}", "{{ mustRegexMatch \"[\" .s }}",
    "{{ regexFindAll \"[a-z]+\" .s -1 }}", "{{ regexFindAll \"[a-z]+\" .s 2 }}", "{{ regexFind \"o.\" .s }}",
    "{{ regexReplaceAll \"(l+)\" .s \"<$1>\" }}", "{{ regexReplaceAll \"(?P<w>o)\" .s \"${w}0\" }}",
    "{{ regexReplaceAll \"o\" .s \"$1x\" }}", "{{ regexReplaceAllLiteral \"l\" .s \"$1\" }}",
    "{{ regexSplit \",\" .csv -1 }}", "{{ regexSplit \",\" .csv 2 }}", "{{ regexSplit \"x*\" \"axbc\" -1 }}",
    "{{ regexFind \"(?i)hello\" .s }}", "{{ regexMatch \"\\\\d+\" .num }}", "{{ regexReplaceAll \"\\\\s+\" .ws \"_\" }}",
    "{{ list 1 \"a\" .nil }}", "{{ first .l }}", "{{ first .empty }}", "{{ last .nums }}", "{{ rest .l }}",
    "{{ initial .l }}", "{{ reverse .l }}", "{{ uniq (list 1 2 1 \"a\" \"a\") }}", "{{ compact (list 1 0 \"\" \"a\") }}",
    "{{ append .l \"d\" }}", "{{ append .nil 1 }}", "{{ prepend .m.missing 1 }}", "{{ has 1 .nil }}", "{{ prepend .l \"z\" }}", "{{ concat .l .nums }}", "{{ has \"b\" .l }}",
    "{{ has 1 .nums }}", "{{ has 1.0 .nums }}", "{{ without .l \"b\" }}", "{{ slice .l 1 }}", "{{ slice .l 1 2 }}",
    "{{ slice .l 2 1 }}", "{{ slice .s 1 2 }}", "{{ dict \"a\" 1 \"b\" }}", "{{ get .m \"y\" }}",
    "{{ get .m \"missing\" }}", "{{ $d := dict \"a\" 1 }}{{ set $d \"b\" 2 }}", "{{ unset (dict \"a\" 1) \"a\" }}",
    "{{ hasKey .m \"x\" }}", "{{ hasKey .m \"q\" }}", "{{ keys .m | sortAlpha }}", "{{ pick .m \"x\" \"y\" }}",
    "{{ omit .m \"x\" \"nested\" }}", "{{ dig \"nested\" \"k\" \"def\" .m }}", "{{ dig \"nested\" \"q\" \"def\" .m }}",
    "{{ dig \"x\" \"q\" \"def\" .m }}", "{{ kindIs \"string\" .s }}", "{{ kindIs \"slice\" .l }}",
    "{{ typeIs \"float64\" .n }}", "{{ typeOf (add 1 2) }}", "{{ kindOf (add 1 2) }}", "{{ typeOf (splitList \",\" .csv) }}",
    "{{ deepEqual .l .l }}", "{{ deepEqual (list 1) (list 1.0) }}", "{{ printf \"%T\" (split \",\" .csv) }}",
    "{{ upper 3 }}", "{{ upper .n }}", "{{ upper .nil }}", "{{ repeat \"3\" \"a\" }}", "{{ repeat .n \"a\" }}",
    "{{ get .l \"a\" }}", "{{ hasKey .nil \"a\" }}", "{{ join \",\" (splitList \",\" .csv) }}",
    "{{ int \"08\" }}", "{{ int .f }}", "{{ int64 \"0x10\" }}", "{{ float64 \"1.5\" }}", "{{ atoi \"12a\" }}",
    "{{ toString 1.5 }}", "{{ toStrings .mixed }}", "{{ .Token.sub | upper }}", "{{ .l | join \",\" }}",
    "{{ .s | lower | replace \" \" \"-\" | trunc 7 }}", "{{ list 1 2 | len }}", "{{ b64dec \"!!\" }}",
    "{{ until 3 | toJson }}", "{{ toJson (list .n .f .big .neg) }}",
]


DATES = [
    '{{ date "2006-01-02 15:04:05" 1700000000 }}', '{{ date "Mon Jan _2 15:04:05 MST 2006" 1700000000 }}',
    '{{ date "Monday, January 2, 2006 3:04PM -0700" 86400 }}', '{{ date "06/1/2 3:4:5 pm Z07:00" 1234567890 }}',
    '{{ date "2006-01-02T15:04:05.000Z07:00" 1700000000 }}', '{{ date ".999 002 __2 Z0700 -07" 1700000000 }}',
    '{{ htmlDate 1700000000 }}', '{{ dateInZone "2006-01-02 15:04 MST -07:00" 1700000000 "Europe/Amsterdam" }}',
    '{{ dateInZone "15:04 MST" 1700000000 "America/New_York" }}', '{{ dateInZone "15:04 MST" 0 "No/Such_Zone" }}',
    '{{ htmlDateInZone 1700000000 "Asia/Tokyo" }}', '{{ toDate "2006-01-02" "2024-02-29" }}',
    '{{ toDate "2006-01-02" "not a date" }}', '{{ toDate "2006-01-02 15:04:05" "2024-02-29 13:45:10" | unixEpoch }}',
    '{{ toDate "2006-01-02T15:04:05Z07:00" "2024-02-29T13:45:10+02:00" }}', '{{ toDate "Jan 2, 2006" "Mar 7, 2021" }}',
    '{{ toDate "2006-01-02 15:04:05.000" "2024-02-29 13:45:10.123" }}', '{{ mustToDate "2006-01-02" "nope" }}',
    '{{ toDate "2006-01-02" "2024-02-29" | date "02/01/2006" }}', '{{ toJson (toDate "2006-01-02 15:04" "2024-02-29 13:45") }}',
    '{{ toDate "2006-01-02" "2024-02-29" | dateModify "-1.5h" }}', '{{ toDate "2006-01-02" "2024-02-29" | dateModify "bad" }}',
    '{{ toDate "2006-01-02" "2024-02-29" | dateModify "90m30s1ms" | date "15:04:05.000" }}',
    '{{ duration 3725 }}', '{{ duration (int64 3725) }}', '{{ duration (int64 -61) }}', '{{ duration 0 }}', '{{ duration "59" }}', '{{ duration 86400 }}', '{{ duration -61 }}',
    '{{ unixEpoch 5 }}', '{{ typeOf (toDate "2006" "2024") }}', '{{ kindOf (toDate "2006" "2024") }}',
    '{{ printf "%v" (toDate "2006-01-02" "2024-02-29") }}', '{{ if toDate "2006" "x" }}t{{ end }}',
    '{{ date "2006" 0 }}', '{{ (toDate "2006-01-02" "2024-02-29").Year }}',
    '{{ $t := toDate "2006-01-02 15:04:05" "2024-02-29 13:45:10" }}{{ $t.YearDay }} {{ $t.Hour }} {{ $t.Unix }} {{ $t.IsZero }}',
    '{{ (toDate "2006" "x").IsZero }}', '{{ (toDate "2006" "2024").Nope }}', '{{ (toDate "2006" "2024").UTC }}',
]


MORE_SPRIG = [
    '{{ mustRegexFindAll "[a-z]+" .s -1 }}', '{{ mustRegexFind "o." .s }}', '{{ mustRegexFind "[" .s }}',
    '{{ mustRegexReplaceAll "(l+)" .s "<$1>" }}', '{{ mustRegexReplaceAllLiteral "l" .s "$1" }}',
    '{{ mustRegexSplit "," .csv 2 }}', '{{ mustFromJson "[1, 2]" }}', '{{ mustFromJson "nope" }}',
    '{{ mustToPrettyJson .l }}', '{{ mustToRawJson .html }}', '{{ mustDeepCopy .l }}', '{{ hello }}',
    '{{ toDate "2006-01-02" "2024-02-29" | mustDateModify "1h" }}', '{{ toDate "2006" "2024" | mustDateModify "x" }}',
    '{{ untilStep 0 10 3 }}', '{{ untilStep 10 0 -4 }}', '{{ untilStep 0 10 -1 }}', '{{ untilStep 0 10 0 }}',
    '{{ chunk 2 .l }}', '{{ chunk 5 .l }}', '{{ chunk 0 .l }}', '{{ chunk 2 .empty }}', '{{ mustChunk 2 .s }}',
    '{{ mustFirst .l }}', '{{ mustFirst .s }}', '{{ mustLast .empty }}', '{{ mustRest .nums }}',
    '{{ mustInitial .l }}', '{{ mustReverse .l }}', '{{ mustUniq (list 1 1 2) }}', '{{ mustCompact (list "" 1) }}',
    '{{ mustAppend .l 1 }}', '{{ mustPrepend .l 1 }}', '{{ mustHas "a" .l }}', '{{ mustWithout .l "a" "c" }}',
    '{{ mustSlice .l 1 2 }}', '{{ mustAppend .s 1 }}',
    '{{ base "/a/b/c.txt" }}', '{{ base "/a/b/" }}', '{{ base "" }}', '{{ base "///" }}', '{{ dir "/a/b/c" }}',
    '{{ dir "c" }}', '{{ dir "/" }}', '{{ dir "a//b/../c/" }}', '{{ clean "a//b/./../c/" }}', '{{ clean "" }}',
    '{{ clean "//x" }}', '{{ clean "/../x" }}', '{{ ext "a/b.tar.gz" }}', '{{ ext "a.b/c" }}', '{{ ext "" }}',
    '{{ isAbs "/x" }}', '{{ isAbs "x" }}', '{{ ceil 1.2 }}', '{{ floor -1.2 }}', '{{ ceil "2.5" }}', '{{ floor .f }}',
    '{{ pluck "x" .m (dict "x" 2) (dict "y" 3) }}', '{{ pluck "x" }}', '{{ deepCopy .m }}', '{{ deepCopy .l }}',
    '{{ typeIsLike "float64" .n }}', '{{ typeIsLike "[]interface {}" .l }}', '{{ typeIsLike "int" .n }}',
]


REGEXES = [
    '{{ regexMatch "a$" "a\\n" }}', '{{ regexMatch "(?m)a$" "a\\nb" }}', '{{ regexMatch "^b" "a\\nb" }}',
    '{{ regexMatch "(?m)^b" "a\\nb" }}', '{{ regexMatch "a\\z" "a" }}', '{{ regexMatch "a\\Z" "a" }}',
    '{{ regexFindAll "\\d+" "a1٣2b33" -1 }}', '{{ regexFindAll "\\w+" "héllo wörld" -1 }}',
    '{{ regexFindAll "[[:alpha:]]+" "ab1cd" -1 }}', '{{ regexFindAll "[[:digit:][:upper:]]+" "aB1cD" -1 }}',
    '{{ regexFindAll "[^[:space:]]+" "a b\\tc" -1 }}', '{{ regexMatch "[[:nope:]]" "a" }}',
    '{{ regexFind "(?=a)" "a" }}', '{{ mustRegexMatch "(?!a)" "a" }}', '{{ regexFind "(a)\\1" "aa" }}',
    '{{ regexReplaceAll "\\Qa.b\\E" "a.b axb" "X" }}', '{{ regexReplaceAll "(?i)HELLO" .s "bye" }}',
    '{{ regexReplaceAll "(?P<first>\\w+), (?P<second>\\w+)" .s "${second} $first" }}',
    '{{ regexSplit "\\s*,\\s*" "a , b,c ,d" -1 }}', '{{ regexFindAll "[]a]" "a]b" -1 }}',
    '{{ regexFindAll "[^]a]" "a]b" -1 }}', '{{ regexFindAll "[a-c-]" "a-d" -1 }}', '{{ regexMatch "\\" "a" }}',
    '{{ regexMatch "(?s).+" "a\\nb" }}', '{{ regexFind ".+" "a\\nb" }}', '{{ regexReplaceAll "$" "ab" "!" }}',
    '{{ regexReplaceAll "^" "ab" "!" }}', '{{ regexReplaceAll "" "ab" "-" }}', '{{ regexFindAll "a*" "baaab" -1 }}',
    '{{ regexReplaceAll "a*" "baaab" "-" }}', '{{ regexMatch "^[a-z0-9.-]+\\.corp$" "web-1.corp" }}',
    '{{ regexReplaceAll "[^a-zA-Z0-9]" "a b@c.d" "_" }}', '{{ regexFind "\\bfoo\\b" "a foo b" }}',
    '{{ regexMatch `a\\z` "a" }}', '{{ regexMatch `a\\Z` "a" }}', '{{ regexFindAll `\\d+` "a1٣2b33" -1 }}',
    '{{ regexFindAll `\\w+` "héllo wörld" -1 }}', '{{ regexFind `(a)\\1` "aa" }}',
    '{{ regexReplaceAll `\\Qa.b\\E` "a.b axb" "X" }}', '{{ regexSplit `\\s*,\\s*` "a , b,c ,d" -1 }}',
    '{{ regexReplaceAll `(?P<first>\\w+), (?P<second>\\w+)` .s "${second} $first" }}',
    '{{ regexMatch `^[a-z0-9.-]+\\.corp$` "web-1.corp" }}', '{{ regexFindAll `[\\d.]+` "v1.2 x3" -1 }}',
    '{{ regexFindAll `[\\D]+` "a1b" -1 }}', '{{ regexFindAll `\\S+` "a b" -1 }}', '{{ regexFind `\\x41` "zA" }}',
    '{{ "\\x41\\u00e9\\101\\a" }}', "{{ '\\'' }}", '{{ "\\\'" }}', '{{ "\\q" }}', "{{ '\\\"' }}",
    '{{ "\\u12" }}', '{{ "\\400" }}', "{{ '\\x41' }}", '{{ "tab\\tnew\\nline" | quote }}',
]


def hand_written() -> list[dict[str, Any]]:
    """All the hand-written cases, each rendered with ``DATA``."""
    templates = list(STRUCTURE) + list(BUILTINS) + list(SPRIG_CALLS) + DATES + MORE_SPRIG + REGEXES
    templates += [f"{{{{ printf \"{verb}\" {arg} }}}}" for verb, arg in itertools.product(PRINTF_VERBS, PRINTF_ARGS)]
    templates += [f"{{{{ {name} {arg} }}}}" for name, arg in itertools.product(SPRIG_STRINGS, SPRIG_INPUTS)]
    return [{"template": template, "data": DATA} for template in templates]

#: Known differences (none left: the list stays so that one found later is recorded, not hidden).
KNOWN_DIFFERENCES: frozenset[str] = frozenset()
