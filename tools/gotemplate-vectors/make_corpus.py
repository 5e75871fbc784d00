"""Write tests/unit/gotemplate/corpus.json: the template conformance cases.

Run from the repository root: ``python tools/gotemplate-vectors/make_corpus.py``; then
regenerate the Go vectors (see docs/templates.md). A case has a name, a template, and
either ``data`` (one JSON value) or ``events`` (rendered in turn with one wait state).
``ours`` (with ``notes``) marks a documented divergence: what omd does instead of Go.
"""

from __future__ import annotations

import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/unit/gotemplate/corpus.json"

AT = "2024-05-02T10:11:12.123456789Z"
ZERO = "0001-01-01T00:00:00Z"


def envelope(kind: str, data: dict, id_: int = 42) -> dict:
    """The {kind, id, at, data} document the CLI renders."""
    return {"kind": kind, "id": id_, "at": AT, "data": data}


def imon_updated(path: str = "foo001", node: str = "dev1n1", state: str = "idle",
                 labels: object = "default") -> dict:
    """A realistic InstanceMonitorUpdated event (about 1 KB)."""
    if labels == "default":
        labels = {"namespace": "root", "node": node, "path": path}
    return envelope("InstanceMonitorUpdated", {
        "labels": labels, "path": path, "node": node,
        "instance_monitor": {
            "global_expect": "none", "global_expect_updated_at": AT,
            "global_expect_options": None, "is_leader": True, "is_ha_leader": False,
            "local_expect": "started", "local_expect_updated_at": AT,
            "orchestration_id": "00000000-0000-0000-0000-000000000000",
            "orchestration_is_done": False, "session_id": "7c0e0b8e-8d7b-4d0e-9f3c-2b2a4d6e8f10",
            "state": state, "state_updated_at": AT, "monitor_action_executed_at": ZERO,
            "preserved": False,
            "resources": {"fs#1": {"restart": {"remaining": 0, "last_at": ZERO}},
                          "app#1": {"restart": {"remaining": 2, "last_at": AT}}},
            "updated_at": AT, "parents": {}, "children": {},
        },
    })


def istat_updated(path: str = "foo", node: str = "dev1n1", avail: str = "up",
                  provisioned: str = "true", frozen_at: str = ZERO) -> dict:
    return envelope("InstanceStatusUpdated", {
        "labels": {"namespace": "root", "node": node, "path": path},
        "path": path, "node": node,
        "instance_status": {
            "avail": avail, "frozen_at": frozen_at, "last_started_at": AT, "overall": avail,
            "provisioned": provisioned, "updated_at": AT,
            "resources": {"fs#1": {"label": "xfs /srv/foo", "status": avail, "type": "fs.xfs",
                                   "provisioned": {"mtime": AT, "state": provisioned}}},
            "running": ["app#1"],
        },
    })


def ostat_updated(path: str = "foo001", node: str = "dev1n1", avail: str = "up",
                  provisioned: str = "true") -> dict:
    return envelope("ObjectStatusUpdated", {
        "labels": {"namespace": "root", "node": node, "path": path},
        "path": path, "node": node,
        "object_status": {"avail": avail, "frozen": "unfrozen", "orchestrate": "ha",
                          "overall": avail, "placement_policy": "nodes order",
                          "placement_state": "optimal", "priority": 50,
                          "provisioned": provisioned, "scope": ["dev1n1", "dev1n2"],
                          "topology": "failover", "up_instances_count": 1, "updated_at": AT},
    })


def nstat_updated(node: str = "dev1n1", frozen_at: str = ZERO) -> dict:
    return envelope("NodeStatusUpdated", {
        "labels": {"node": node},
        "node": node,
        "node_status": {"agent": "3.0.0", "api": 8, "arbitrators": {}, "compat": 12,
                        "frozen_at": frozen_at, "gen": {"dev1n1": 12, "dev1n2": 7},
                        "is_leader": True, "is_overloaded": False, "booted_at": AT,
                        "left_at": ZERO, "rejoined_at": ZERO},
    })


def cstat_updated(is_frozen: bool) -> dict:
    return envelope("ClusterStatusUpdated", {
        "labels": {"node": "dev1n1"}, "node": "dev1n1",
        "cluster_status": {"is_compat": True, "is_frozen": is_frozen},
    })


D = {
    "s": "hello", "e": "", "u": "héllo wörld", "n": 3, "f": 2.5, "neg": -7, "z": 0,
    "big": 1234567, "huge": 1e21, "small": 0.00001, "t": True, "no": False, "nul": None,
    "l": [1, "two", None, True, 2.5], "el": [], "m": {"b": 2, "a": "x", "c": None},
    "em": {}, "nested": {"a": {"b": {"c": "deep"}}}, "strs": ["b", "a", "c"],
    "html": "<a href=\"x\">O'Reilly & co</a>", "q": "a \"quoted\"\tline\n", "idx": 1,
    "labels": {"node": "dev1n1", "path": "foo001", "namespace": "root"},
    "nolabels": None, "ml": [{"name": "a", "v": 1}, {"name": "b", "v": 2}],
    "nums": [3, 1, 2], "pct": "100%", "uni": "日本語", "tab": "a\tb",
}

cases: list[dict] = []


def case(name: str, template: str, data: object = D, *, events: list | None = None,
         ours: dict | None = None, notes: str | None = None) -> None:
    c: dict = {"name": name, "template": template}
    if events is not None:
        c["events"] = events
    else:
        c["data"] = data
    if ours is not None:
        c["ours"] = ours
        c["notes"] = notes or ""
    cases.append(c)


def group(prefix: str, items: list[str], data: object = D) -> None:
    for i, t in enumerate(items):
        case("%s_%02d" % (prefix, i), t, data)


# ---- lexing
group("lex_text", ["", "plain text", "multi\nline\ntext\n", "unicode ✓ 日本", "{ not an action }",
                   "a}}b", "{{`{{`}}", "tab\there"])
group("lex_trim", ["a  {{- .s}}", "{{.s -}}  b", "a \n {{- .s -}} \n b", "a {{- .s}}",
                   "{{.s}} x {{- .s}}", "a\t\n{{- /* c */ -}}\n\tb", "x {{- 3 -}} y",
                   "{{- .s -}}", "a {{-3}}", "a {{3 -}} b", "{{- if .t}} yes {{- end}}",
                   "[ {{- range .strs}} {{.}} {{- end}} ]"])
group("lex_comment", ["a{{/* comment */}}b", "{{/* multi\nline */}}x", "a {{- /* c */}} b",
                      "a {{/* c */ -}} b", "{{/**/}}"])
group("lex_string", [r'{{"a\tb"}}', r'{{"\x41\u00e9\U0001F600"}}', r'{{"\101"}}',
                     r'{{"\\ \" \a"}}', "{{`raw \\n string`}}", "{{`multi\nline`}}",
                     "{{`cr\r\nlf`}}", r'{{"\xc3\xa9"}}', r'{{print "" ""}}', r'{{"\u65e5"}}'])
group("lex_char", ["{{'a'}}", "{{'\\n'}}", "{{'日'}}", "{{printf \"%c%c\" 'x' '\\u00e9'}}",
                   "{{'\\x41'}}", "{{printf \"%T\" 'a'}}", "{{'\\''}}"])
group("lex_number", ["{{1}}", "{{-1}}", "{{+5}}", "{{0x1F}}", "{{0X1f}}", "{{0o17}}", "{{017}}",
                     "{{0b101}}", "{{1_000_000}}", "{{0x_FF}}", "{{1.5}}", "{{1.}}", "{{.5}}",
                     "{{1e3}}", "{{1E-3}}", "{{1.5e+10}}", "{{0x1p-2}}", "{{0x1.8p1}}", "{{1i}}",
                     "{{1+2i}}", "{{2.5-1i}}", "{{0i}}", "{{printf \"%T\" 1}}",
                     "{{printf \"%T\" 1.0}}", "{{printf \"%T\" 1e3}}", "{{printf \"%T\" 0x10}}",
                     "{{printf \"%T\" 1i}}", "{{-0}}", "{{9223372036854775807}}",
                     "{{-9223372036854775808}}", "{{1_0.2_5}}", "{{123456789.0}}"])
group("lex_bool_nil", ["{{true}}", "{{false}}", "{{print nil}}", "{{printf \"%v %v\" true false}}",
                       "{{if nil}}x{{end}}"])

# ---- fields, variables, dot
group("field", ["{{.s}}", "{{.n}}", "{{.f}}", "{{.t}}", "{{.nul}}", "{{.missing}}", "{{.l}}",
                "{{.m}}", "{{.em}}", "{{.el}}", "{{.nested.a.b.c}}", "{{.nested.a}}",
                "{{.nested.x.y}}", "{{.missing.x.y}}", "{{.}}", "{{.big}}", "{{.huge}}",
                "{{.small}}", "{{.neg}}", "{{.z}}", "{{.u}}", "{{.ml}}", "{{.html}}", "{{.q}}",
                "{{(.nested).a.b.c}}", "{{(index .ml 0).name}}", "{{$.s}}", "{{$.nested.a.b}}",
                "{{.labels.node}}", "{{.nolabels}}"])
group("var", ["{{$x := .s}}{{$x}}", "{{$x := 1}}{{$x = 2}}{{$x}}", "{{$x := .n}}{{$x}}",
              "{{$}}", "{{$x := .nested}}{{$x.a.b.c}}", "{{$x := .missing}}{{$x}}",
              "{{$x := .nul}}{{$x}}", "{{$x := .nul}}{{$x.a}}",
              "{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}",
              "{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}",
              "{{$x := .l}}{{range $x}}{{.}},{{end}}", "{{$a, $b := 1}}",
              "{{with $x := .s}}{{$x}}{{.}}{{end}}", "{{$x := print .s .n}}{{$x}}",
              "{{$x := (len .s)}}{{$x}}", "{{range $i, $e := .strs}}{{$i}}{{$e}}{{end}}{{$}}" ])

# ---- control flow
group("if", ["{{if .t}}yes{{end}}", "{{if .no}}yes{{else}}no{{end}}", "{{if .s}}1{{end}}",
             "{{if .e}}1{{else}}0{{end}}", "{{if .z}}1{{else}}0{{end}}", "{{if .f}}1{{end}}",
             "{{if .l}}1{{end}}", "{{if .el}}1{{else}}0{{end}}", "{{if .em}}1{{else}}0{{end}}",
             "{{if .nul}}1{{else}}0{{end}}", "{{if .missing}}1{{else}}0{{end}}",
             "{{if .no}}a{{else if .t}}b{{else}}c{{end}}",
             "{{if .no}}a{{else if .z}}b{{else if .s}}c{{end}}",
             "{{if $x := .s}}{{$x}}{{end}}", "{{if and .t .s}}{{.s}}{{end}}",
             "{{if not .no}}ok{{end}}", "{{if 0}}a{{else}}b{{end}}", "{{if 0.0}}a{{else}}b{{end}}",
             "{{if \"\"}}a{{else}}b{{end}}", "{{if .m}}{{.m.a}}{{end}}"])
group("with", ["{{with .s}}{{.}}{{end}}", "{{with .e}}x{{else}}empty{{end}}",
               "{{with .nested.a}}{{.b.c}}{{end}}", "{{with .missing}}x{{else}}{{.s}}{{end}}",
               "{{with $v := .n}}{{$v}} {{.}}{{end}}", "{{with .l}}{{len .}}{{end}}",
               "{{with .nul}}x{{else}}nil{{end}}", "{{with .s}}{{.x}}{{end}}",
               "{{with .m}}{{.a}}{{end}}"])
group("range", ["{{range .strs}}{{.}}{{end}}", "{{range .l}}[{{.}}]{{end}}",
                "{{range $i, $e := .l}}{{$i}}={{$e}} {{end}}", "{{range $e := .strs}}{{$e}}{{end}}",
                "{{range .m}}{{.}};{{end}}", "{{range $k, $v := .m}}{{$k}}:{{$v}} {{end}}",
                "{{range .el}}x{{else}}empty{{end}}", "{{range .em}}x{{else}}empty{{end}}",
                "{{range .missing}}x{{else}}none{{end}}", "{{range .nul}}x{{else}}nil{{end}}",
                "{{range .ml}}{{.name}}={{.v}} {{end}}", "{{range .strs}}{{if eq . \"a\"}}{{break}}{{end}}{{.}}{{end}}",
                "{{range .strs}}{{if eq . \"a\"}}{{continue}}{{end}}{{.}}{{end}}",
                "{{range $i, $e := .nums}}{{if gt $e 1.0}}{{$e}}{{end}}{{end}}",
                "{{range .l}}{{.x}}{{end}}", "{{range .s}}x{{end}}", "{{range .n}}x{{end}}",
                "{{range .strs}}{{$.s}}{{end}}", "{{range $k, $v := .m}}{{break}}{{end}}done",
                "{{range .ml}}{{range $k, $v := .}}{{$k}}{{end}}{{end}}",
                "{{range $i, $e := .strs}}{{end}}{{len .strs}}",
                "{{range .nested}}{{.b.c}}{{end}}", "{{range .strs}}{{with .}}{{.}}{{end}}{{end}}"])
# range over an integer: Go >= 1.22; the vectors' Go 1.19 rejects it
for i, (t, out) in enumerate([("{{range 3}}{{.}}{{end}}", "012"),
                              ("{{range $i := 2}}[{{$i}}]{{end}}", "[0][1]"),
                              ("{{range 0}}x{{else}}none{{end}}", "none"),
                              ("{{range len .strs}}{{.}}{{end}}", "012")]):
    case("range_int_%02d" % i, t, ours={"output": out},
         notes="range over an int is Go >= 1.22 (upstream's Go); Go 1.19 errors")
case("range_int_two_vars", "{{range $i, $e := 3}}{{end}}",
     ours={"error_kind": "exec",
           "error": 'template: t:1:18: executing "t" at <3>: can\'t use 3 to iterate over more than one variable'},
     notes="Go >= 1.22 error for two variables over an int")
case("with_else_with_00", "{{with .missing}}a{{else with .s}}{{.}}{{end}}", ours={"output": "hello"},
     notes="else with is Go >= 1.23 (upstream's Go); Go 1.19 is a parse error")
case("with_else_with_01", "{{with .missing}}a{{else with .e}}b{{else}}c{{end}}",
     ours={"output": "c"}, notes="else with is Go >= 1.23")

group("define", ['{{define "x"}}X{{.}}X{{end}}{{template "x" .s}}',
                 '{{define "x"}}[{{.}}]{{end}}{{template "x"}}',
                 '{{template "x" .n}}{{define "x"}}<{{.}}>{{end}}',
                 '{{block "b" .s}}block {{.}}{{end}}',
                 '{{define "b"}}redefined{{end}}{{block "b" .}}orig{{end}}',
                 '{{define "t"}}only define{{end}}',
                 '{{define "r"}}{{if gt . 0}}{{.}}{{template "r" len (slice "abcdefgh" 1 .)}}{{end}}{{end}}{{template "r" 3}}',
                 '{{define "x"}}{{$}}{{end}}{{template "x" .nested.a}}',
                 '{{template "nope"}}', '{{define "x"}}{{.missing.y}}{{end}}{{template "x" .}}',
                 '{{define "x"}}{{.q}}{{end}}{{define "x"}}{{.r}}{{end}}',
                 '{{define "x"}}a{{end}}{{define "x"}} {{end}}{{template "x"}}',
                 '{{define "loop"}}{{template "loop"}}{{end}}{{template "loop"}}'])

# ---- builtins
group("and_or", ["{{and 1 0 2}}", "{{and 1 2}}", "{{or 0 \"\" .s}}", "{{or 0 \"\"}}",
                 "{{and .t .s}}", "{{or .missing .s}}", "{{and .missing .x.y}}",
                 "{{or .s .nul.x}}", "{{and .s .nul.x}}", "{{and}}", "{{.s | and 1}}",
                 "{{0 | or 0}}", "{{and .l .m}}", "{{or .nul .el}}", "{{printf \"%T\" (and 1 .f)}}"])
group("not", ["{{not true}}", "{{not .s}}", "{{not .e}}", "{{not .nul}}", "{{not .missing}}",
              "{{not 0}}", "{{not}}", "{{not 1 2}}"])
group("len", ["{{len .s}}", "{{len .u}}", "{{len .l}}", "{{len .m}}", "{{len .el}}", "{{len \"\"}}",
              "{{len .n}}", "{{len .nul}}", "{{len .missing}}", "{{len .uni}}", "{{len nil}}"])
group("index", ["{{index .l 1}}", "{{index .l 2}}", "{{index .m \"a\"}}", "{{index .m \"zz\"}}",
                "{{index .s 1}}", "{{printf \"%T\" (index .s 0)}}", "{{index .nested \"a\" \"b\" \"c\"}}",
                "{{index .l 5}}", "{{index .l 4}}", "{{index .l 5 }}", "{{index .l -1}}",
                "{{index .l .idx}}", "{{index .l 1.0}}", "{{index .m 1}}", "{{index .n 0}}",
                "{{index .nul 0}}", "{{index .missing 0}}", "{{index .l}}", "{{index .ml 1 \"name\"}}",
                "{{index .labels \"node\"}}", "{{index .m nil}}", "{{index .l nil}}",
                "{{index .m \"c\"}}", "{{index .strs 0}}", "{{index .s 5}}"])
group("slice", ["{{slice .s 1 3}}", "{{slice .s 2}}", "{{slice .s}}", "{{slice .l 1 3}}",
                "{{slice .l 3}}", "{{slice .s 3 1}}", "{{slice .s 0 10}}", "{{slice .s 1 2 3}}",
                "{{slice .l 0 1 2}}", "{{slice .l 2 1 2}}", "{{slice .n 1}}", "{{slice .nul 1}}",
                "{{slice .s .idx}}", "{{slice .u 0 2}}", "{{slice .s 1.0}}", "{{slice .l 0 1 2 3}}",
                "{{slice .strs 1}}", "{{slice .s -1}}"])
group("print", ["{{print 1 2}}", "{{print \"a\" \"b\"}}", "{{print 1 \"a\" 2}}", "{{print .l .m}}",
                "{{print .nul}}", "{{print .missing}}", "{{print}}", "{{println 1 \"a\" .f}}",
                "{{println}}", "{{print .t .no}}", "{{print 1.5 2}}", "{{print .s .n .s}}",
                "{{print nil 1}}", "{{.s | print}}", "{{.s | print \"x\"}}", "{{print .huge .small .big}}"])
group("cmp", ["{{eq 1 1}}", "{{eq 1 2}}", "{{eq \"a\" \"a\"}}", "{{eq .s \"hello\"}}",
              "{{eq .s \"x\" \"y\" \"hello\"}}", "{{eq .t true}}", "{{eq 1.5 1.5}}", "{{eq .f 2.5}}",
              "{{eq .missing .missing}}", "{{eq .missing \"x\"}}", "{{eq .nul .missing}}",
              "{{eq .nul \"x\"}}", "{{eq .s 1}}", "{{eq .l .l}}", "{{eq .m .m}}", "{{eq .l .m}}",
              "{{eq .l nil}}", "{{eq .s}}", "{{ne 1 2}}", "{{ne \"a\" \"a\"}}", "{{ne .s \"x\"}}",
              "{{lt 1 2}}", "{{lt 2 1}}", "{{lt \"a\" \"b\"}}", "{{lt 1.5 2.5}}", "{{lt .f 3.0}}",
              "{{le 2 2}}", "{{le 3 2}}", "{{gt 3 2}}", "{{gt \"b\" \"a\"}}", "{{ge 2 2}}",
              "{{ge 1 2}}", "{{lt true false}}", "{{lt .missing 1}}", "{{lt .s 1}}", "{{lt 1i 2i}}",
              "{{eq 1i 1i}}", "{{eq (index .s 0) 104}}", "{{lt (index .s 0) 200}}", "{{eq 'a' 97}}",
              "{{lt -1 (index .s 0)}}", "{{lt .l .l}}", "{{ne .missing .nul}}", "{{eq \"\" .e}}",
              "{{gt .f 2.0}}", "{{eq .labels.node \"dev1n1\"}}"])
# JSON numbers are float64: Go refuses to compare them with int constants
for i, (t, out) in enumerate([("{{eq .n 3}}", "true"), ("{{eq .n 4}}", "false"),
                              ("{{ne .n 3}}", "false"), ("{{lt .n 4}}", "true"),
                              ("{{gt .n 1}}", "true"), ("{{le .n 3}}", "true"),
                              ("{{ge .f 3}}", "false"), ("{{eq 3 .n}}", "true"),
                              ("{{eq (len .strs) .n}}", "true"),
                              ("{{if eq .n 3}}three{{end}}", "three")]):
    case("lenient_cmp_%02d" % i, t, ours={"output": out},
         notes="lenient: a float64 (JSON number) compares with an int constant by value")
group("escape", ["{{html .html}}", "{{js .html}}", "{{urlquery .html}}", "{{html .q}}", "{{js .q}}",
                 "{{urlquery \"a b&c=d/é\"}}", "{{html 1 2}}", "{{html .missing}}", "{{js .nul}}",
                 "{{html \"a\" 1}}", "{{js \"\\u2028x\"}}", "{{js .uni}}", "{{.html | html}}",
                 "{{urlquery .l}}", "{{js \"\\x01\"}}", "{{html \"\\x00\"}}", "{{print .html | urlquery}}"])
group("call", ["{{call .s}}", "{{call .missing}}", "{{call}}", "{{call passCount}}"])

# ---- printf
P = [("%s", ".s"), ("%v", ".s"), ("%q", ".s"), ("%x", ".s"), ("%X", ".s"), ("% x", ".s"),
     ("%#x", ".s"), ("%10s|", ".s"), ("%-10s|", ".s"), ("%.2s", ".s"), ("%5.1s|", ".s"),
     ("%010s", ".s"), ("%d", ".s"), ("%t", ".s"), ("%q", ".q"), ("%+q", ".u"), ("%#q", ".s"),
     ("%#q", ".q"), ("%v", ".f"), ("%d", ".n"), ("%v", ".n"), ("%f", ".f"), ("%.2f", ".f"),
     ("%8.3f|", ".f"), ("%-8.3f|", ".f"), ("%08.3f", ".neg"), ("%+.1f", ".f"), ("% .1f", ".f"),
     ("%e", ".f"), ("%E", ".big"), ("%.3e", ".big"), ("%g", ".f"), ("%g", ".big"),
     ("%G", ".small"), ("%.3g", ".big"), ("%.10g", ".big"), ("%#g", ".f"), ("%#.3g", ".n"),
     ("%#v", ".f"), ("%x", ".f"), ("%X", ".big"), ("%.2x", ".f"), ("%b", ".f"), ("%s", ".f"),
     ("%t", ".f"), ("%c", ".f"), ("%v", ".huge"), ("%v", ".small"), ("%v", ".big"), ("%f", ".huge"),
     ("%v", ".neg"), ("%6.2f|", ".z"), ("%t", ".t"), ("%v", ".t"), ("%5t|", ".no"), ("%d", ".t"),
     ("%s", ".t"), ("%v", ".l"), ("%s", ".l"), ("%d", ".l"), ("%q", ".strs"), ("%v", ".m"),
     ("%d", ".m"), ("%+v", ".m"), ("%#v", ".m"), ("%#v", ".l"), ("%#v", ".s"), ("%v", ".nul"),
     ("%s", ".nul"), ("%d", ".missing"), ("%T", ".s"), ("%T", ".n"), ("%T", ".l"), ("%T", ".m"),
     ("%T", ".nul"), ("%T", ".t"), ("%v", ".em"), ("%v", ".el"), ("%5v|", ".n"), ("%-5d|", "3"),
     ("%05d", "-42"), ("%+d", "5"), ("% d", "5"), ("%x", "255"), ("%#x", "255"), ("%X", "255"),
     ("%o", "8"), ("%#o", "8"), ("%O", "8"), ("%b", "5"), ("%#b", "5"), ("%c", "65"), ("%q", "65"),
     ("%U", "65"), ("%#U", "0x1F600"), ("%.3d", "7"), ("%8.3d|", "-7"), ("%.0d|", "0"),
     ("%d", "'a'"), ("%v", "1i"), ("%.2f", "1.5i"), ("%s", "1i"), ("%v", "(index .s 0)"),
     ("%c", "(index .s 0)"), ("%x", "(index .s 0)"), ("%v", ".nested"), ("%v", ".ml"),
     ("%6.2v|", ".f"), ("%.1v", ".s"), ("%v", ".html"), ("%x", ".uni"), ("%.1q", ".uni"),
     ("%5q|", ".s"), ("%-8v|", ".l"), ("%08v", ".f"), ("%+v", ".n"), ("%+.3e", ".small"),
     ("%!", ".s"), ("%z", ".s"), ("%w", ".s"), ("%p", ".s"), ("%", ".s"), ("%-05d|", "3"),
     ("%.f", ".f"), ("%10.4v|", ".big")]
for i, (f, a) in enumerate(P):
    case("printf_%03d" % i, '{{printf "%s" %s}}' % (f.replace('"', '\\"'), a))
group("printf_args", ['{{printf "%s %s" .s}}', '{{printf "%s" .s .n}}', '{{printf "x" .s .n .l}}',
                      '{{printf "%d %d" 1}}', '{{printf "%[2]s %[1]s" "a" "b"}}',
                      '{{printf "%[3]s" "a"}}', '{{printf "%[1]d %[1]x" 255}}',
                      '{{printf "%*d|" 5 3}}', '{{printf "%-*d|" 5 3}}', '{{printf "%*d|" -5 3}}',
                      '{{printf "%.*f" 2 3.14159}}', '{{printf "%*d" "x" 3}}',
                      '{{printf "%.*f" -1 2.5}}', '{{printf "%d%%" 50}}', '{{printf "%5%"}}',
                      '{{printf "no verbs"}}', '{{printf}}', '{{printf .s}}', '{{printf .pct}}',
                      '{{printf 3}}', '{{.s | printf "%s!"}}', '{{.s | printf "%s %s" "a"}}',
                      '{{printf "%s" nil}}', '{{printf "%v" nil}}', '{{printf "%s" (print 1 2)}}',
                      '{{printf "%[2]*[1]d|" 3 6}}', '{{printf "%[0]d" 1}}', '{{printf "%[x]d" 1}}',
                      '{{printf "%.[2]d" 1 2}}', '{{printf "%v %v" .missing .nul}}',
                      '{{printf "%s" .missing.x}}', '{{printf "%d items" (len .l)}}',
                      '{{printf "%-10s|%5.1f|%t" .s .f .t}}', '{{printf "%s\\n" "nl"}}',
                      '{{printf "%3c|" (index .s 0)}}', '{{printf "%.3s" .uni}}',
                      '{{printf "%v" .tab}}', '{{printf "%q" .tab}}',
                      '{{printf "%x" .e}}', '{{printf "%8x|" .e}}'])

# ---- pipelines and misc exec
group("pipe", ["{{.s | len}}", "{{.s | printf \"%s-%s\" \"x\"}}", "{{\"a\" | print \"b\" | print \"c\"}}",
               "{{.l | len | print}}", "{{(len .s) | printf \"%d\"}}", "{{.s | eq \"hello\"}}",
               "{{3 | eq 3}}", "{{.f | printf \"%.1f\"}}", "{{.s | not}}", "{{.missing | print}}",
               "{{.nul | print}}", "{{.n | print | len}}", "{{.s | index .m}}",
               "{{\"a\" | slice .s}}", "{{.s | slice}}", "{{.s | .x}}", "{{.s | $}}",
               "{{1 | (print)}}", "{{.s | .nested}}"])

# ---- custom functions
L = {"node": "dev1n1", "path": "foo001", "namespace": "root"}
group("labels", ['{{hasNodeLabel .labels "dev1n1"}}', '{{hasNodeLabel .labels "x" "dev1n1"}}',
                 '{{hasNodeLabel .labels "x"}}', '{{hasNodeLabel .nolabels "dev1n1"}}',
                 '{{hasNodeLabel .missing "dev1n1"}}', '{{hasNodeLabel .labels}}',
                 '{{hasPathLabel .labels "foo001" "foo002"}}', '{{hasPathLabel .labels "foo"}}',
                 '{{hasInstanceLabel .labels "foo001@dev1n1"}}',
                 '{{hasInstanceLabel .labels "foo001@dev1n2" "foo002@dev1n1"}}',
                 '{{hasInstanceLabel .labels "foo001"}}', '{{hasInstanceLabel .nolabels "a@b"}}',
                 '{{hasNodeLabel .s "x"}}', '{{hasNodeLabel .labels 3}}', '{{hasNodeLabel .labels .n}}',
                 '{{hasNodeLabel}}', '{{hasNodeLabel .l "x"}}', '{{hasPathLabel .m "x"}}'])
group("strfuncs", ['{{stringsContains .s "ell"}}', '{{stringsContains .s "x"}}',
                   '{{stringsHasPrefix .s "he"}}', '{{stringsHasPrefix .s "lo"}}',
                   '{{stringsHasSuffix .s "lo"}}', '{{stringsHasSuffix .s ""}}',
                   '{{stringsContains .n "3"}}', '{{stringsContains .missing "x"}}',
                   '{{stringsContains .nul "x"}}', '{{stringsContains .s}}',
                   '{{toInst .s "n1"}}', '{{toInst "a" "b"}}', '{{toInst .n "x"}}',
                   '{{range keys .m}}{{.}} {{end}}', '{{keys .m}}', '{{keys .nul}}', '{{keys .missing}}',
                   '{{keys .s}}', '{{len (keys .labels)}}', '{{range keys .m}}{{.x}}{{end}}',
                   '{{printf "%T" (keys .m)}}', '{{index (keys .m) 0}}', '{{slice (keys .m) 1}}'])
group("wait", ['{{passCount}}', '{{passAdd "a"}}{{passAdd "a"}}{{passCount}}',
               '{{passAdd "a"}}{{passDel "a"}}{{passDel "a"}}{{passCount}}',
               '{{passSet "a" true}}{{passSet "a" true}}{{passSet "b" true}}{{passSet "a" false}}{{passCount}}',
               '{{setSuccess true}}', '{{setSuccess false}}', '{{if setSuccess .t}}yes{{end}}',
               '{{setSuccess .s}}', '{{setSuccess .missing}}', '{{setSuccess .nul}}', '{{setSuccess 1}}',
               '{{passSet .s .t}}{{passCount}}', '{{passSet .s .s}}', '{{passSet .n true}}',
               '{{with setSuccess (eq passCount 0)}}{{end}}', '{{passCount 1}}',
               '{{passAdd (toInst .s "n")}}{{range keys .m}}{{passAdd .}}{{end}}{{passCount}}',
               '{{setSuccess (not .no)}}', '{{passCount | print}}', '{{passCount.x}}'])

# ---- the user documentation's templates, on realistic events
SIMPLE = '{{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}'
case("doc_simple", SIMPLE, imon_updated())
case("doc_simple_peer", SIMPLE, imon_updated("ns1/svc/web", "dev1n2", "starting"))
case("doc_simple_missing", SIMPLE, envelope("InstanceStatusUpdated", istat_updated()["data"]))
BY_NODE = '{{if hasNodeLabel .data.labels "dev1n1" "dev1n2" -}} {{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}{{end}}'
case("doc_by_node", BY_NODE, events=[imon_updated(), imon_updated(node="dev1n3"),
                                     imon_updated(labels=None)])
BY_PATH = '{{if hasPathLabel .data.labels "foo001" "foo002" -}} {{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}{{end}}'
case("doc_by_path", BY_PATH, events=[imon_updated(), imon_updated("foo003"),
                                     imon_updated("foo002", state="stopping")])
BY_INST = '{{if hasInstanceLabel .data.labels "foo001@dev1n1" "foo002@dev1n2" -}} {{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}{{end}}'
case("doc_by_instance", BY_INST, events=[imon_updated(), imon_updated("foo001", "dev1n2"),
                                         imon_updated("foo002", "dev1n2")])
W_OBJ = '{{if setSuccess (and (eq .data.instance_status.avail "up") (eq .data.instance_status.provisioned "true"))}}{{end}}'
case("doc_wait_object_as_written", W_OBJ, ostat_updated())
case("doc_wait_object_errata", W_OBJ.replace("instance_status", "object_status"),
     events=[ostat_updated(avail="down"), ostat_updated(provisioned="false"), ostat_updated()])
case("doc_wait_instance", W_OBJ, events=[istat_updated(avail="down"), istat_updated()])
W_FROZEN = '{{if setSuccess (eq .data.instance_status.frozen_at "0001-01-01T00:00:00Z")}}{{end}}'
case("doc_wait_node_frozen_as_written", W_FROZEN, nstat_updated())
case("doc_wait_node_frozen_errata",
     '{{if setSuccess (ne .data.node_status.frozen_at "0001-01-01T00:00:00Z")}}{{end}}',
     events=[nstat_updated(), nstat_updated(frozen_at=AT)])
case("doc_wait_node_unfrozen_errata",
     '{{if setSuccess (eq .data.node_status.frozen_at "0001-01-01T00:00:00Z")}}{{end}}',
     events=[nstat_updated(frozen_at=AT), nstat_updated()])
case("doc_wait_cluster_frozen", '{{if setSuccess .data.cluster_status.is_frozen}}{{end}}',
     events=[cstat_updated(False), cstat_updated(True)])
case("doc_wait_cluster_unfrozen", '{{if setSuccess (not .data.cluster_status.is_frozen)}}{{end}}',
     events=[cstat_updated(True), cstat_updated(False)])
W3 = '{{if passSet (toInst .data.path .data.node) (eq .data.object_status.avail "up") -}} {{with setSuccess (eq passCount 3)}}{{end}}{{end}}'
case("doc_wait_3_objects", W3, events=[ostat_updated("a1"), ostat_updated("a2"),
                                       ostat_updated("a2", avail="down"), ostat_updated("a2"),
                                       ostat_updated("a3"), ostat_updated("a1")])
W3F = '{{if eq (slice .data.path 0 3) "foo" -}} {{if passSet .data.path (eq .data.object_status.avail "up") -}} {{with setSuccess (eq passCount 3)}}{{end}}{{end}}{{end}}'
case("doc_wait_3_foo_objects", W3F, events=[ostat_updated("foo001"), ostat_updated("bar001"),
                                            ostat_updated("foo002"), ostat_updated("foo003")])
case("doc_wait_3_foo_short_path", W3F, ostat_updated("fo"))
case("doc_wait_3_foo_errata",
     '{{if stringsHasPrefix .data.path "foo" -}} {{if passSet .data.path (eq .data.object_status.avail "up") -}} {{with setSuccess (eq passCount 3)}}{{end}}{{end}}{{end}}',
     events=[ostat_updated("fo"), ostat_updated("foo001"), ostat_updated("foo002"),
             ostat_updated("foo003")])
case("doc_envelope", "{{.kind}} {{.id}} {{.at}} {{printf \"%v %d\" .id .id}}", imon_updated())
case("doc_status_line", '{{.kind}}{{range $k, $v := .data.labels}} {{$k}}={{$v}}{{end}}\n', imon_updated())
case("doc_resources", '{{range $rid, $r := .data.instance_monitor.resources}}{{$rid}}:{{$r.restart.remaining}} {{end}}', imon_updated())

# ---- parse errors
group("perr", ["{{", "{{.s", "{{.s}", "}}", "{{end}}", "{{else}}", "{{if .t}}", "{{if}}{{end}}",
               "{{range}}{{end}}", "{{with}}{{end}}", "{{foo}}", "{{.s | foo}}", "{{$x}}",
               "{{$x = 1}}", "{{if .t}}{{$x := 1}}{{end}}{{$x}}", "{{(1}}", "{{1)}}", "{{()}}",
               "{{\"abc}}", "{{`abc}}", "{{'ab'}}", "{{''}}", "{{'a}}", "{{\"\\q\"}}", "{{3x}}",
               "{{0x}}", "{{1e}}", "{{99999999999999999999}}", "{{.s.}}", "{{.s|}}",
               "{{| .s}}", "{{.s 3 | 4}}", "{{\"a\".x}}", "{{nil.x}}", "{{1.x}}", "{{break}}",
               "{{continue}}", "{{range .l}}{{break 1}}{{end}}", "{{define \"x\"}}",
               "{{define x}}{{end}}", "{{template x}}", "{{template \"x\" }}{{define}}",
               "{{/* unclosed", "{{/* c */ .s}}", "{{if .t}}{{else}}{{else}}{{end}}",
               "{{range $a, $b, $c := .l}}{{end}}", "{{range $a, 1 := .l}}{{end}}",
               "{{$a, $b := 1}}", "{{with $x, $y := 1}}{{end}}", "{{.s\n}}", "line1\n{{.s ^}}",
               "{{.s}}\n{{if}}", "{{\n.s\n|\n}}", "{{define \"a\"}}1{{end}}{{define \"a\"}}2{{end}}",
               "{{block \"b\"}}{{end}}", "{{block b .}}{{end}}", "{{else if .t}}", "{{3 := 4}}",
               "{{$x := }}", "{{.s :}}", "{{@}}", "{{.s}}{{end}}", "{{1 2}}", "{{if .t}}{{end}}{{end}}",
               "a\nb\n{{.s\n\nc", "{{.x.1}}", "{{$x.1}}", "{{\"\\xzz\"}}", "{{'\\400'}}",
               "{{ .s -}}{{- }}", "{{-.s}}", "{{.s-}}", "{{.s -}}{{- else}}"])

# ---- execution errors
group("xerr", ["{{.s.x}}", "{{.n.x}}", "{{.l.x}}", "{{.nul.x}}", "{{.s 1}}", "{{.m.a 1}}",
               "{{$x := .s}}{{$x.y}}", "{{(.s).y}}", "{{\"a\" | .s}}", "{{1 2 | print}}",
               "{{nil}}", "{{len 1 2}}", "{{printf}}", "{{index}}", "{{eq}}", "{{lt 1}}",
               "{{lt 1 2 3}}", "{{printf 1}}", "{{printf .n}}", "{{printf .missing}}",
               "{{printf .nul}}", "{{toInst .missing \"x\"}}", "{{toInst .nul \"x\"}}",
               "{{toInst 1 \"x\"}}", "{{passSet \"a\" 1}}", "{{passSet \"a\" .s}}", "{{setSuccess nil}}",
               "{{hasNodeLabel nil \"x\"}}", "{{toInst nil \"x\"}}", "{{print (index .l 9)}}",
               "{{range .f}}{{end}}", "{{range .t}}{{end}}", "{{with .s}}{{.nope.x}}{{end}}",
               "{{range .l}}{{.x.y}}{{end}}", "{{range $x := .strs}}{{$x.y}}{{end}}",
               "line1\nline2 {{.s.x}}", "héllo {{.s.x}}", "{{if .t}}\n  {{len .n}}{{end}}",
               "{{define \"x\"}}\n{{.y.z}}{{end}}{{template \"x\" .s}}", "{{template \"x\" .s.x}}{{define \"x\"}}{{end}}",
               "{{.s | printf \"%d\" | len}}", "{{(print 1).x}}", "{{(len .s).x}}",
               "{{slice .s .n}}", "{{index .l .f}}", "{{not .s .s}}", "{{and 1 (len 3)}}",
               "{{or 0 (len 3)}}", "{{or 1 (len 3)}}", "{{html (len 3)}}", "{{print (len .missing)}}",
               "{{$x := .nul}}{{$x.y}}", "{{.missing.y | len}}", "{{eq .l \"x\"}}", "{{eq .m .l}}",
               "{{lt .m .m}}", "{{eq (slice .l 0 1) (slice .l 0 1)}}"])

# ---- realistic JSON number formatting (everything is float64)
NUMS = {"a": 0, "b": 1, "c": -1, "d": 0.1, "e": 1e6, "f": 999999, "g": 1e20, "h": 1.5e-5,
        "i": 123456789012, "j": 0.000123, "k": 3.0000001, "l": 1e-7, "m": 100, "n": 2.5e100,
        "o": -0.0, "p": 17179869184, "q": 12345.678}
for k in sorted(NUMS):
    case("num_%s" % k, "{{.%s}} {{printf \"%%v %%d %%.2f %%e %%g %%s\" .%s .%s .%s .%s .%s .%s}}"
         % ((k,) * 7), NUMS)


def main() -> None:
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    OUT.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    print("%d cases written to %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
