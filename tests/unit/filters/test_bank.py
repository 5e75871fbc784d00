"""MatcherBank: many matchers per batch, indexed by kind, in both implementations."""

from __future__ import annotations

from array import array

import pytest

from omd.filters import parse

from ._support import IMPLS, instance_status, matcher

ISU = instance_status("svc1", "n1", avail="up")
ISD = instance_status("svc2", "n2", avail="down")
NSU = (b"NodeStatusUpdated\0node=n1\0", b'{"labels":{"node":"n1"},"node":"n1"}')
BAD = (b"\xff\0=\0", b"{")


def test_batch_lists_matching_handles_per_event(impl):
    """Each event gets the handles of the matchers it passes, ascending, each once."""
    bank = impl.MatcherBank()
    h_all = bank.add(matcher(impl))
    h_isu = bank.add(matcher(impl, "InstanceStatusUpdated"))
    h_two = bank.add(matcher(impl, "InstanceStatusUpdated,.instance_status.avail=up", "path=svc1"))
    h_node = bank.add(matcher(impl, "node=n1"))
    h_nsu = bank.add(matcher(impl, "NodeStatusUpdated,ObjectStatusUpdated"))
    assert (h_all, h_isu, h_two, h_node, h_nsu) == (0, 1, 2, 3, 4)
    got = bank.match_batch([ISU, ISD, NSU, BAD])
    assert got == [[0, 1, 2, 3], [0, 1], [0, 3, 4], [0]]
    assert bank.match_pairs([ISU, NSU]) == array("I", [0, 0, 0, 1, 0, 2, 0, 3, 1, 0, 1, 3, 1, 4])
    assert len(bank) == 5


def test_remove_and_handle_reuse(impl):
    """A removed matcher stops matching; its handle is reused, lowest first; unknown is KeyError."""
    bank = impl.MatcherBank()
    a, b, c = (bank.add(matcher(impl, "InstanceStatusUpdated")) for _ in range(3))
    bank.remove(b)
    assert bank.match_batch([ISU]) == [[a, c]]
    bank.remove(a)
    assert bank.add(matcher(impl, "node=n2")) == a
    assert bank.add(matcher(impl, ".instance_status.avail=up")) == b
    assert bank.match_batch([ISU, ISD]) == [[b, c], [a, c]]
    with pytest.raises(KeyError):
        bank.remove(b + 100)
    with pytest.raises(KeyError):
        bank.remove(-1)


def test_empty_batch_and_empty_bank(impl):
    """No event gives no result; an empty bank matches nothing."""
    bank = impl.MatcherBank()
    assert bank.match_batch([]) == [] and bank.match_batch([ISU]) == [[]]


def test_large_batch_spans_several_native_calls(impl):
    """More matches than the output buffer holds are all returned, in order."""
    bank = impl.MatcherBank()
    handles = [bank.add(matcher(impl, "InstanceStatusUpdated")) for _ in range(40)]
    events = [ISU, NSU] * 2000
    got = bank.match_batch(events)
    assert got[0] == handles and got[1] == [] and got[-2] == handles and len(got) == 4000


def test_bank_accepts_matchers_of_the_other_implementation():
    """A bank compiles the spec of a matcher built by either implementation."""
    spec = parse(["InstanceStatusUpdated,path=svc1"])
    for bank_impl in IMPLS.values():
        bank = bank_impl.MatcherBank()
        for m_impl in IMPLS.values():
            bank.add(m_impl.Matcher(spec))
        assert bank.match_batch([ISU, ISD]) == [list(range(len(IMPLS))), []]


def test_label_index_keeps_order_and_exactness(impl):
    """Matchers pinning path or node (indexed in C) match exactly like the others, in handle order."""
    bank = impl.MatcherBank()
    exprs = ["InstanceStatusUpdated,path=svc1", "InstanceStatusUpdated", "InstanceStatusUpdated,node=n1",
             "InstanceStatusUpdated,path=svc2,node=n1", "path=svc1", "InstanceStatusUpdated,path=svc*",
             "InstanceStatusUpdated,ObjectStatusUpdated,path=svc1,node=n2"]
    handles = [bank.add(matcher(impl, e)) for e in exprs]
    assert bank.match_batch([ISU, ISD]) == [[0, 1, 2, 4, 5], [1, 5]]
    bank.remove(handles[0])
    dup = (b"InstanceStatusUpdated\0node=n2\0path=svc1\0path=svc2\0", b"{}")
    assert bank.match_batch([ISU, dup]) == [[1, 2, 4, 5], [1, 4, 5, 6]]


def test_batch_takes_any_bytes_like_frames_and_sequences(impl):
    """Pairs as lists, frames as memoryview, bytearray or zmq frames match like bytes."""
    import zmq

    bank = impl.MatcherBank()
    bank.add(matcher(impl, "InstanceStatusUpdated,path=svc1,.instance_status.avail=up"))
    bank.add(matcher(impl, "node=n2"))
    want = bank.match_batch([ISU, ISD, NSU])
    assert want == [[0], [1], []]
    shapes = [
        [list(ISU), list(ISD), list(NSU)],
        [(memoryview(t), bytearray(d)) for t, d in (ISU, ISD, NSU)],
        [(zmq.Frame(t), zmq.Frame(d)) for t, d in (ISU, ISD, NSU)],
        ((ISU, ISD, NSU)),
    ]
    for events in shapes:
        assert bank.match_batch(events) == want
    assert bank.match_batch(iter([ISU, ISD, NSU])) == want


def test_batch_of_frames_that_only_the_batch_holds(impl):
    """Frames built on the fly (referenced by nothing but the batch) are read intact."""
    bank = impl.MatcherBank()
    bank.add(matcher(impl, "InstanceStatusUpdated,.instance_status.avail=up"))

    def fresh():
        for i in range(3000):
            t, d = (ISU, ISD)[i % 2]
            yield bytes(bytearray(t)), bytes(bytearray(d))

    got = bank.match_batch(fresh())
    assert got == [[0], []] * 1500


def test_topics_with_many_labels(impl):
    """Labels past the first 24 of a topic are found; the first of a repeated key wins."""
    fields = b"\0".join(b"k%d=v%d" % (i, i) for i in range(30))
    topic = b"InstanceStatusUpdated\0" + fields + b"\0k28=other\0path=svc1\0"
    bank = impl.MatcherBank()
    exprs = ["k28=v28", "k28=other", "k0=v0,k29=v29,path=svc1", "k30=v30", "k5!=v5", "k29=v*"]
    for e in exprs:
        bank.add(matcher(impl, e))
    assert bank.match_batch([(topic, b"{}")]) == [[0, 2, 5]]
    m = impl.Matcher(parse(["InstanceStatusUpdated,path=svc1,k27=v27"]))
    assert m.match(topic, b"{}") and not m.match(topic[:-11], b"{}")
