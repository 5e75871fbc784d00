// Command gotemplate-vectors runs every case of the omd template conformance corpus
// through Go's text/template and records what Go prints (or the error it returns).
//
// Usage: go run . CORPUS.json VECTORS.json
//
// Data is decoded with encoding/json into `any` (numbers are float64), exactly as the
// upstream OpenSVC CLI does before executing a --template. The OpenSVC helpers are
// declared with the label map form events really carry (see docs/templates.md).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/template"
)

type corpusCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Data     json.RawMessage   `json:"data,omitempty"`
	Events   []json.RawMessage `json:"events,omitempty"`
	Notes    string            `json:"notes,omitempty"`
	Ours     json.RawMessage   `json:"ours,omitempty"`
}

type step struct {
	Output    string   `json:"output"`
	Error     string   `json:"error,omitempty"`
	ErrorKind string   `json:"error_kind,omitempty"`
	Success   bool     `json:"success"`
	Passed    []string `json:"passed"`
}

type vector struct {
	corpusCase
	Go []step `json:"go"`
}

type waitState struct {
	success bool
	passed  map[string]bool
}

func labelsMap(labels any) (map[string]any, error) {
	switch m := labels.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	default:
		return nil, fmt.Errorf("labels must be a map, not %T", labels)
	}
}

func hasLabel(key string) func(labels any, expected ...string) (bool, error) {
	return func(labels any, expected ...string) (bool, error) {
		m, err := labelsMap(labels)
		if err != nil || m == nil {
			return false, err
		}
		v, ok := m[key].(string)
		if !ok {
			return false, nil
		}
		for _, e := range expected {
			if e == v {
				return true, nil
			}
		}
		return false, nil
	}
}

func funcs(w *waitState) template.FuncMap {
	add := func(s string) bool {
		if w.passed[s] {
			return false
		}
		w.passed[s] = true
		return true
	}
	del := func(s string) bool {
		if !w.passed[s] {
			return false
		}
		delete(w.passed, s)
		return true
	}
	return template.FuncMap{
		"hasNodeLabel": hasLabel("node"),
		"hasPathLabel": hasLabel("path"),
		"hasInstanceLabel": func(labels any, expected ...string) (bool, error) {
			m, err := labelsMap(labels)
			if err != nil || m == nil {
				return false, err
			}
			path, ok1 := m["path"].(string)
			node, ok2 := m["node"].(string)
			if !ok1 || !ok2 {
				return false, nil
			}
			for _, e := range expected {
				i := strings.LastIndex(e, "@")
				if i >= 0 && e[:i] == path && e[i+1:] == node {
					return true, nil
				}
			}
			return false, nil
		},
		"passSet": func(s string, b bool) bool {
			if b {
				return add(s)
			}
			return del(s)
		},
		"passAdd":    add,
		"passDel":    del,
		"passCount":  func() int { return len(w.passed) },
		"setSuccess": func(b bool) bool { w.success = b; return b },
		"toInst":     func(p string, node string) string { return p + "@" + node },
		"keys": func(m any) ([]string, error) {
			switch m := m.(type) {
			case nil:
				return []string{}, nil
			case map[string]any:
				l := make([]string, 0, len(m))
				for k := range m {
					l = append(l, k)
				}
				sort.Strings(l)
				return l, nil
			default:
				return nil, fmt.Errorf("keys of a %T, not a map", m)
			}
		},
		"stringsContains":  strings.Contains,
		"stringsHasPrefix": strings.HasPrefix,
		"stringsHasSuffix": strings.HasSuffix,
	}
}

func (w *waitState) snapshot(s *step) {
	s.Success = w.success
	s.Passed = []string{}
	for k := range w.passed {
		s.Passed = append(s.Passed, k)
	}
	sort.Strings(s.Passed)
}

func run(c corpusCase) (steps []step) {
	w := &waitState{passed: map[string]bool{}}
	events := c.Events
	if events == nil {
		events = []json.RawMessage{c.Data}
	}
	tmpl, err := template.New("t").Funcs(funcs(w)).Parse(c.Template)
	if err != nil {
		return []step{{Error: err.Error(), ErrorKind: "parse", Passed: []string{}}}
	}
	for _, raw := range events {
		var data any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &data); err != nil {
				panic(fmt.Sprintf("case %s: bad data: %v", c.Name, err))
			}
		}
		var s step
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.Error = fmt.Sprint(r)
					s.ErrorKind = "panic"
				}
			}()
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, data); err != nil {
				s.Error = err.Error()
				s.ErrorKind = "exec"
			}
			s.Output = buf.String()
		}()
		w.snapshot(&s)
		steps = append(steps, s)
	}
	return steps
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gotemplate-vectors CORPUS.json VECTORS.json")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var corpus []corpusCase
	if err := json.Unmarshal(in, &corpus); err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	out := make([]vector, 0, len(corpus))
	for _, c := range corpus {
		if seen[c.Name] {
			panic("duplicate case name " + c.Name)
		}
		seen[c.Name] = true
		out = append(out, vector{corpusCase: c, Go: run(c)})
	}
	doc := map[string]any{"go_version": runtime.Version(), "vectors": out}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(doc); err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], buf.Bytes(), 0o644); err != nil {
		panic(err)
	}
	fmt.Printf("%d vectors written by %s\n", len(out), runtime.Version())
}
