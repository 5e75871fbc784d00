"""The filter language: what parses into what, and the error for every mistake."""

from __future__ import annotations

import pytest

from omd.errors import FilterError, OmdError
from omd.filters import DataAssertion, LabelAssertion, parse


def test_elements_split_into_kinds_labels_and_data():
    """An expression yields its kinds, label assertions and data assertions, in order."""
    (f,) = parse(['InstanceStatusUpdated, path=svc*,node!=n2, ObjectStatusDone,.a."b.c"[2].d >= "x,y"'])
    assert f.kinds == ("InstanceStatusUpdated", "ObjectStatusDone")
    assert f.labels == (LabelAssertion("path", "svc*"), LabelAssertion("node", "n2", negate=True))
    assert f.labels[0].glob and not f.labels[1].glob
    assert f.data == (DataAssertion(("a", "b.c", 2, "d"), ">=", "x,y"),)


@pytest.mark.parametrize(("text", "value"), [
    ('"up"', "up"), ("up", "up"), ("3", 3.0), ("-0.5e2", -50.0), ("true", True), ("false", False),
    ("null", None), ('"true"', "true"), ('"3"', "3"), ("up and away", "up and away"),
    ('"a\\"b\\u00e9"', 'a"b\u00e9'), ('"0001-01-01T00:00:00Z"', "0001-01-01T00:00:00Z"),
])
def test_data_literals(text, value):
    """JSON literals stay typed; bare words are strings."""
    (f,) = parse([".x=" + text])
    assert f.data[0].value == value and type(f.data[0].value) is type(value)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_data_operator(op):
    """All six operators parse, with optional spaces around them."""
    assert parse([f".x {op} 1"]).filters[0].data[0].op == op


def test_kinds_property_and_label_values():
    """kinds is None when some filter names no kind; label_values pins exact label values."""
    assert parse([]).kinds is None
    assert parse(["InstanceStatusUpdated", "ObjectStatusUpdated,path=a"]).kinds == {
        "InstanceStatusUpdated", "ObjectStatusUpdated"}
    assert parse(["InstanceStatusUpdated", "path=a"]).kinds is None
    spec = parse(["InstanceStatusUpdated,path=a", "ObjectStatusUpdated,path=b"])
    assert spec.label_values("path") == {"a", "b"} and spec.label_values("node") is None
    assert parse(["InstanceStatusUpdated,path=a*"]).label_values("path") is None


@pytest.mark.parametrize(("expr", "message", "caret"), [
    ("", "empty filter", None),
    ("InstanceStatusUpdated,", "empty element", 22),
    ("InstanceStatusUpdated,,path=a", "empty element", 22),
    (" ,path=a", "empty element", 1),
    ("path=a,InstanceStatusUpdate", "did you mean InstanceStatusUpdated", 7),
    ("=svc1", "empty label key", 0),
    ("path>svc1", "bad operator", 4),
    ("path<=svc1", "bad operator", 4),
    (".x", "missing operator", 2),
    (".x~1", "bad operator", 2),
    (".x==1", "bad operator", 3),
    (".x=", "missing value", 3),
    (".x=,InstanceStatusUpdated", "missing value", 3),
    ('.x="up', "unterminated quote", 3),
    ('."fs#1.status="up"', "bad operator", 15),
    ('."fs#1', "unterminated quote", 1),
    ('.x="a\\q"', "invalid \\escape", 5),
    ('.x="a" b', "unexpected 'b'", 7),
    (".x=1.2.3", "bad literal", 3),
    (".x=2024-01-01", "bad literal", 3),
    (".x=01", "bad literal", 3),
    ('.x=a"b', "stray quote", 4),
    (".", "empty key", 1),
    (".a..b=1", "empty key", 3),
    (".a b=1", "bad operator", 3),
    (".a[x]=1", "bad array index", 2),
    (".a[-1]=1", "bad array index", 2),
    (".a[1=1", "bad array index", 2),
    ("path=svc[1", "unterminated [", 8),
    ("a\0b", "NUL", 1),
])
def test_errors_point_at_the_mistake(expr, message, caret):
    """Each mistake is a FilterError (exit code 2) naming it, with a caret under its position."""
    with pytest.raises(FilterError) as info:
        parse([expr])
    err = info.value
    assert message in str(err) and isinstance(err, OmdError) and err.exit_code == 2
    if caret is not None:
        assert err.position == caret
        lines = str(err).splitlines()
        assert lines[-2] == "  " + expr and lines[-1] == "  " + " " * caret + "^"


def test_parse_wants_a_list():
    """A bare string is refused: it would be split into one-character filters."""
    with pytest.raises(TypeError):
        parse("InstanceStatusUpdated")  # type: ignore[arg-type]


def test_error_names_the_right_filter_of_several():
    """With several filters, the error shows the one at fault."""
    with pytest.raises(FilterError) as info:
        parse(["InstanceStatusUpdated", "path=a,Bogus"])
    assert info.value.expression == "path=a,Bogus" and info.value.position == 7
