"""Conformance of omd.gotemplate with Go's text/template, over vectors produced by Go itself.

tests/unit/gotemplate/vectors.json is written by tools/gotemplate-vectors (Go) from
corpus.json; each case renders one template on one or more events with one wait state.
A case with ``ours`` is a documented divergence (docs/templates.md): we check our
behaviour instead of Go's.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from omd.gotemplate import Template, TemplateExecError, TemplateParseError, WaitState

HERE = pathlib.Path(__file__).parent
DOC = json.loads((HERE / "vectors.json").read_text(), parse_int=float)
VECTORS = DOC["vectors"]

# Cases where Go's message names something our engine cannot reproduce; only the error
# class is compared. Each is listed in docs/templates.md ("Known differences").
MESSAGE_ONLY_CLASS: dict[str, str] = {}


def _as_go_json(s: str) -> str:
    """Our output as Go's JSON encoder stored it: lone bytes become U+FFFD."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _expected(vec: dict) -> list[dict]:
    if "ours" in vec:
        ours = dict(vec["ours"])
        ours.setdefault("output", "")
        return [ours]
    return vec["go"]


def _run(vec: dict) -> list[dict]:
    try:
        tmpl = Template.parse(vec["template"], "t")
    except TemplateParseError as e:
        return [{"error": str(e), "error_kind": "parse"}]
    events = vec.get("events")
    if events is None:
        events = [vec.get("data")]
    state = WaitState()
    steps = []
    for data in events:
        try:
            out = tmpl.render(data, state)
            step = {"output": _as_go_json(out)}
        except TemplateExecError as e:
            step = {"error": str(e), "error_kind": "exec"}
        step["success"] = state.success
        step["passed"] = state.passed_list()
        steps.append(step)
    return steps


def test_corpus_is_large_enough() -> None:
    """The corpus has at least 300 Go-generated cases."""
    assert len(VECTORS) >= 300


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vec: dict) -> None:
    """Our engine prints what Go printed (or fails the way Go failed) for this case."""
    expected = _expected(vec)
    got = _run(vec)
    if expected and expected[0].get("error_kind") == "parse":
        assert got[0].get("error_kind") == "parse", got
        if vec["name"] not in MESSAGE_ONLY_CLASS:
            assert got[0]["error"] == expected[0]["error"]
        return
    assert len(got) == len(expected), got
    for g, e in zip(got, expected):
        if e.get("error_kind"):
            assert g.get("error_kind") == e["error_kind"], g
            if vec["name"] not in MESSAGE_ONLY_CLASS:
                assert g["error"] == e["error"]
        else:
            assert g.get("error") is None, g.get("error")
            assert g["output"] == e["output"]
        if "success" in e:
            assert g["success"] == e["success"]
            assert g["passed"] == e["passed"]
