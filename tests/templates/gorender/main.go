// Command gorender renders Go text/template cases with sprig's functions, as step-ca
// does, for the differential tests: it reads a JSON array of {"template", "data"} on
// stdin and writes a JSON array of {"ok", "out"} (out is the error when not ok).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"text/template"

	"github.com/Masterminds/sprig"
)

type testCase struct {
	Template string      `json:"template"`
	Data     interface{} `json:"data"`
}

type result struct {
	OK  bool   `json:"ok"`
	Out string `json:"out"`
}

func funcMap() template.FuncMap {
	m := sprig.TxtFuncMap()
	delete(m, "env")
	delete(m, "expandenv")
	m["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	return m
}

func render(c testCase) (res result) {
	defer func() {
		if r := recover(); r != nil {
			res = result{OK: false, Out: "panic"}
		}
	}()
	t, err := template.New("t").Funcs(funcMap()).Parse(c.Template)
	if err != nil {
		return result{OK: false, Out: err.Error()}
	}
	var out bytes.Buffer
	if err := t.Execute(&out, c.Data); err != nil {
		return result{OK: false, Out: err.Error()}
	}
	return result{OK: true, Out: out.String()}
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		results[i] = render(c)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		panic(err)
	}
}
