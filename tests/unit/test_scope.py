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


def test_a_scoped_subscriber_drops_what_the_journal_refuses(zctx):
    """The subsystems read the bus directly (istat deleted ns2's status on a raw ObjectDeleted
    labelled ns1 that the journal refused): their Subscriber (scoped) drops an event whose
    labels and data disagree on its object (cause scope), and passes the consistent one."""
    import json

    from omd.model.wire import encode_meta, encode_topic
    from omd.sockets import Subscriber

    def compact(obj):
        return json.dumps(obj, separators=(",", ":")).encode()

    sub = Subscriber(zctx, "inproc://scope-test", scoped=True)
    meta = encode_meta("n1", "evil:1:x", 1, "2026-01-01T00:00:00Z")
    try:
        labels = {"namespace": "ns1", "path": "ns2/svc/b", "node": "n1"}
        data = compact({"labels": labels, "path": "ns2/svc/b", "node": "n1"})
        assert sub.check([encode_topic("ObjectDeleted", labels), meta, data]) is None
        labels = {"node": "n1"}
        data = compact({"labels": labels, "path": "ns2/svc/b", "node": "n1"})
        assert sub.check([encode_topic("ObjectDeleted", labels), meta, data]) is None
        assert sub.stats["dropped.scope"] == 2
        labels = {"namespace": "ns2", "path": "ns2/svc/b", "node": "n1"}
        data = compact({"labels": labels, "path": "ns2/svc/b", "node": "n1"})
        assert sub.check([encode_topic("ObjectDeleted", labels), meta, data]) is not None
    finally:
        sub.close()
