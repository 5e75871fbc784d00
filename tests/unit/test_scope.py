"""omd.model.scope.derive: the path and namespace an event is about, and the refusal of
events whose labels and data disagree."""

import pytest

from omd.model.scope import Scope, ScopeError, derive


def test_agreeing_sources_give_the_scope():
    assert derive({"namespace": "ns1", "path": "ns1/svc/a"}, {"path": "ns1/svc/a"}) == Scope("ns1/svc/a", "ns1")
    assert derive({"path": "svc1"}) == Scope("svc1", "root")
    assert derive({}, {"path": "ns2/svc/b"}) == Scope("ns2/svc/b", "ns2")
    assert derive({"namespace": "ns1"}) == Scope(None, "ns1")
    assert derive({}) == Scope(None, None)


@pytest.mark.parametrize("labels,data,field", [
    ({"namespace": "ns1", "path": "ns2/svc/b"}, {}, "labels.namespace"),
    ({"namespace": "ns1"}, {"path": "ns2/svc/b"}, "labels.namespace"),
    ({"path": "ns1/svc/a"}, {"path": "ns2/svc/b"}, "data.path"),
    ({"path": "Not A Path"}, {}, "labels.path"),
    ({}, {"path": 7}, "data.path"),
])
def test_disagreeing_or_bad_sources_are_refused_naming_the_field(labels, data, field):
    with pytest.raises(ScopeError) as info:
        derive(labels, data)
    assert info.value.field == field
