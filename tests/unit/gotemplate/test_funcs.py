"""The OpenSVC template helpers, the wait state the CLI keeps, and the public helpers."""

from __future__ import annotations

import pytest

from omd.gotemplate import Template, TemplateExecError, WaitState, decode_json, to_go_data
from omd.gotemplate.values import StringSlice

LABELS = {"node": "dev1n1", "path": "foo001", "namespace": "root"}


def render(text: str, data: object = None, state: WaitState | None = None) -> str:
    return Template.parse(text).render(data, state)


@pytest.mark.parametrize("labels, expected", [(LABELS, "true"), (None, "false"), ({}, "false"),
                                              ({"node": "other"}, "false")])
def test_has_node_label_takes_the_map_form(labels: object, expected: str) -> None:
    """hasNodeLabel matches labels["node"] against any name and is false on null labels."""
    assert render('{{hasNodeLabel .l "x" "dev1n1"}}', {"l": labels}) == expected


def test_has_path_label() -> None:
    """hasPathLabel matches labels["path"]."""
    assert render('{{hasPathLabel .l "foo002" "foo001"}}', {"l": LABELS}) == "true"
    assert render('{{hasPathLabel .l "foo002"}}', {"l": LABELS}) == "false"


def test_has_instance_label_needs_both_path_and_node() -> None:
    """hasInstanceLabel is true only when one path@node entry matches both labels."""
    t = '{{hasInstanceLabel .l %s}}'
    assert render(t % '"foo001@dev1n1"', {"l": LABELS}) == "true"
    assert render(t % '"foo001@dev1n2" "foo002@dev1n1"', {"l": LABELS}) == "false"
    assert render(t % '"foo001"', {"l": LABELS}) == "false"
    assert render(t % '"a@b"', {"l": None}) == "false"


def test_label_helpers_reject_a_non_map() -> None:
    """A label helper given a string fails with an execution error naming the type."""
    with pytest.raises(TemplateExecError, match="labels must be a map, not string"):
        render('{{hasNodeLabel .l "x"}}', {"l": "dev1n1"})


def test_wait_state_is_kept_by_the_caller_across_events() -> None:
    """passSet/passCount/setSuccess accumulate in the state object the caller passes."""
    t = Template.parse('{{if passSet (toInst .path .node) (eq .avail "up") -}}'
                       '{{with setSuccess (eq passCount 2)}}{{end}}{{end}}')
    state = WaitState()
    for path, avail in [("a", "up"), ("b", "down"), ("a", "up"), ("b", "up")]:
        assert not state.success
        t.render({"path": path, "node": "n1", "avail": avail}, state)
    assert state.success
    assert state.passed_list() == ["a@n1", "b@n1"]


def test_pass_set_reports_changes() -> None:
    """passSet, passAdd and passDel return true only when the passed set changed."""
    out = render('{{passSet "a" true}}{{passSet "a" true}}{{passAdd "b"}}{{passDel "a"}}'
                 '{{passDel "a"}}{{passSet "b" false}}{{passCount}}')
    assert out == "truefalsetruetruefalsetrue0"


def test_set_success_returns_its_argument() -> None:
    """setSuccess returns b, so `{{if setSuccess X}}` works, and records it."""
    state = WaitState()
    assert render("{{setSuccess true}}", state=state) == "true"
    assert state.success is True
    assert render("{{if setSuccess false}}x{{else}}y{{end}}", state=state) == "y"
    assert state.success is False


def test_each_render_without_state_is_fresh() -> None:
    """Without a state argument every render starts with an empty passed set."""
    t = Template.parse('{{passAdd "a"}}')
    assert t.render(None) == "true"
    assert t.render(None) == "true"


def test_string_helpers() -> None:
    """stringsContains/HasPrefix/HasSuffix and toInst behave like Go's strings functions."""
    out = render('{{stringsContains .s "ell"}} {{stringsHasPrefix .s "he"}} '
                 '{{stringsHasSuffix .s "x"}} {{toInst .s "n1"}}', {"s": "hello"})
    assert out == "true true false hello@n1"


def test_keys_returns_sorted_string_slice() -> None:
    """keys lists a map's keys sorted, as a []string (empty for null)."""
    t = Template.parse("{{keys .m}} {{printf \"%T\" (keys .m)}} {{len (keys .n)}}")
    assert t.render({"m": {"b": 1.0, "a": 2.0}, "n": None}) == "[a b] []string 0"


def test_decode_json_makes_every_number_a_float() -> None:
    """decode_json decodes numbers as float64, so %d shows Go's error form for them."""
    data = decode_json('{"n": 3, "f": 2.5, "b": true}')
    assert data == {"n": 3.0, "f": 2.5, "b": True} and type(data["n"]) is float
    assert render('{{printf "%d %v" .n .n}}', data) == "%!d(float64=3) 3"


def test_to_go_data_converts_ints_but_not_bools() -> None:
    """to_go_data turns Python ints into floats and leaves bools alone."""
    assert to_go_data({"a": [1, True, {"b": 2}]}) == {"a": [1.0, True, {"b": 2.0}]}
    assert type(to_go_data([1])[0]) is float and to_go_data([True])[0] is True


def test_field_paths_lists_envelope_data_fields() -> None:
    """field_paths returns the .data paths read with dot on the envelope."""
    t = Template.parse('{{printf "%s %s" .data.path .data.instance_monitor.state}}'
                       '{{if .data.labels}}{{$.data.node}}{{end}}{{with .data.x}}{{.y}}{{end}}{{.kind}}')
    assert t.field_paths() == [("data", "path"), ("data", "instance_monitor", "state"),
                               ("data", "labels"), ("data", "node"), ("data", "x")]


def test_render_json_and_execute() -> None:
    """render_json decodes like Go; execute hands the output to a writer."""
    t = Template.parse("{{.n}}-{{printf \"%T\" .n}}")
    assert t.render_json(b'{"n": 1}') == "1-float64"
    out: list[str] = []
    t.execute({"n": 2.0}, out.append)
    assert out == ["2-float64"]


def test_string_slice_prints_like_a_list() -> None:
    """A []string value prints like Go: [a b]."""
    assert render("{{.}}", StringSlice(["a", "b"])) == "[a b]"
