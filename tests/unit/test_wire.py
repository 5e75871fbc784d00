"""The wire codec: exact frames, and malformed frames always a FrameError with a cause."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from omd.model import wire
from omd.errors import FrameError
from omd.model.events import InstanceStatusUpdated


def test_topic_sorts_labels_and_roundtrips():
    """Topic frames list labels sorted by key and decode back to kind and labels."""
    topic = wire.encode_topic("InstanceStatusUpdated", {"path": "svc1", "node": "n1", "namespace": "root"})
    assert topic == b"InstanceStatusUpdated\0namespace=root\0node=n1\0path=svc1\0"
    assert wire.decode_topic(topic) == ("InstanceStatusUpdated", {"namespace": "root", "node": "n1", "path": "svc1"})
    assert wire.encode_topic("WatchDog", None) == b"WatchDog\0"
    assert wire.topic_prefix("WatchDog") == b"WatchDog\0"


@pytest.mark.parametrize("topic, message", [
    (b"WatchDog", "does not end with NUL"),
    (b"WatchDog\0novalue\0", "b'novalue' is not key=value"),
    (b"WatchDog\0=v\0", "b'=v' is not key=value"),
    (b"\xff\xfe\0", "not UTF-8"),
    (b"WatchDog\0node=\xff\0", "not UTF-8"),
])
def test_malformed_topics_are_frame_errors(topic, message):
    """Each malformed topic is a FrameError of cause `topic` that says what is wrong."""
    with pytest.raises(FrameError) as info:
        wire.decode_topic(topic)
    assert info.value.cause == "topic" and message in str(info.value)


def test_topic_label_values_may_hold_equal_signs_and_be_empty():
    """Only the first `=` splits a label; an empty value is a value."""
    assert wire.decode_topic(b"K\0a=b=c\0e=\0") == ("K", {"a": "b=c", "e": ""})


def test_meta_has_nanosecond_utc_time():
    """The meta frame carries at (RFC 3339 ns UTC), origin, pub and seq."""
    meta = json.loads(wire.encode_meta("n1", "p", 7, at=wire.rfc3339_ns(1_700_000_000_123_456_789)))
    assert meta == {"at": "2023-11-14T22:13:20.123456789Z", "origin": "n1", "pub": "p", "seq": 7}


def test_decode_full_message():
    """A well-formed message decodes, and validation checks data against the kind."""
    ev = InstanceStatusUpdated(path="svc1", labels={"path": "svc1"})
    frames = [wire.encode_topic(ev.kind, ev.labels), wire.encode_meta("n1", "p", 1), wire.encode_data(ev)]
    msg = wire.decode(frames, validate=True)
    assert msg.kind == "InstanceStatusUpdated" and msg.labels == {"path": "svc1"}
    assert msg.event().path == "svc1" and msg.data_obj()["labels"] == {"path": "svc1"}
    frames[2] = b'{"path": 5}'
    with pytest.raises(FrameError) as info:
        wire.decode(frames, validate=True)
    assert info.value.cause == "data"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=5))
def test_arbitrary_frames_never_raise_anything_but_frameerror(frames):
    """Any bytes whatsoever decode or raise FrameError, never another exception."""
    try:
        wire.decode(frames, validate=True)
    except FrameError as exc:
        assert exc.cause in {"frame_count", "topic", "unknown_kind", "meta", "data"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_data_of_a_known_kind(data):
    """Random data bytes under a valid topic and meta never escape as another exception."""
    frames = [b"InstanceStatusUpdated\0", wire.encode_meta("n", "p", 1), data]
    for validate in (False, True):
        try:
            wire.decode(frames, validate=validate)
        except FrameError:
            pass
