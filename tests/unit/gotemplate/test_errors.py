"""Parse and execution errors: distinct classes, Go's wording and positions."""

from __future__ import annotations

import pytest

from omd.errors import OmdError
from omd.gotemplate import Template, TemplateError, TemplateExecError, TemplateParseError


def test_parse_and_exec_errors_are_distinct_omd_errors() -> None:
    """Both error classes are OmdError/TemplateError subclasses and neither is the other."""
    assert issubclass(TemplateParseError, TemplateError) and issubclass(TemplateExecError, TemplateError)
    assert issubclass(TemplateError, OmdError)
    assert not issubclass(TemplateParseError, TemplateExecError)
    assert not issubclass(TemplateExecError, TemplateParseError)


def test_parse_error_names_template_and_line() -> None:
    """A parse error carries the template name and line, in Go's words."""
    with pytest.raises(TemplateParseError) as e:
        Template.parse("line1\n{{nope .x}}", name="events")
    assert str(e.value) == 'template: events:2: function "nope" not defined'


def test_exec_error_names_template_line_column_and_node() -> None:
    """An execution error says name:line:col and the node being evaluated.

    Go positions a field chain at its second field (.s), hence column 10.
    """
    t = Template.parse("a\nbc {{.data.s.x}}", name="events")
    with pytest.raises(TemplateExecError) as e:
        t.render({"data": {"s": "str"}})
    assert str(e.value) == ('template: events:2:10: executing "events" at <.data.s.x>: '
                            "can't evaluate field x in type interface {}")


def test_exec_error_column_counts_bytes() -> None:
    """Columns count UTF-8 bytes, as Go does (a chain's position is its second field's)."""
    with pytest.raises(TemplateExecError, match=r"t:1:11: "):
        Template.parse("héllo {{.s.x}}").render({"s": "x"})


def test_error_inside_defined_template_names_it() -> None:
    """An error inside a define says which template was executing."""
    t = Template.parse('{{define "sub"}}{{.y.z}}{{end}}{{template "sub" .s}}')
    with pytest.raises(TemplateExecError, match=r'executing "sub" at <.y.z>'):
        t.render({"s": "x"})


def test_missing_key_and_null_differ() -> None:
    """A missing key prints <no value>, but a field of JSON null is a nil pointer error."""
    t = Template.parse("{{.a.b}}")
    assert t.render({}) == "<no value>"
    with pytest.raises(TemplateExecError, match=r"nil pointer evaluating interface \{\}\.b"):
        t.render({"a": None})


def test_infinite_template_recursion_is_an_exec_error() -> None:
    """Unbounded template recursion fails with Go's depth error, not a Python crash."""
    t = Template.parse('{{define "l"}}{{template "l"}}{{end}}{{template "l"}}')
    with pytest.raises(TemplateExecError, match="exceeded maximum template depth"):
        t.render(None)


def test_function_error_names_the_call() -> None:
    """A builtin's own error is reported as `error calling NAME: ...`."""
    with pytest.raises(TemplateExecError, match=r"error calling index: index out of range: 9"):
        Template.parse("{{index .l 9}}").render({"l": [1.0]})


def test_wrong_argument_type_is_reported() -> None:
    """A value of the wrong Go type for a typed parameter is an execution error."""
    with pytest.raises(TemplateExecError, match="wrong type for value; expected string; got float64"):
        Template.parse('{{toInst .n "x"}}').render({"n": 1.0})


def test_lenient_number_comparison() -> None:
    """Unlike Go, a float64 JSON number compares with an int constant (documented)."""
    assert Template.parse("{{eq .n 3}} {{lt .n 4}}").render({"n": 3.0}) == "true true"


def test_incompatible_comparison_still_fails() -> None:
    """Comparing a string with a number still fails as in Go."""
    with pytest.raises(TemplateExecError, match="incompatible types for comparison"):
        Template.parse('{{eq .s 1}}').render({"s": "a"})
