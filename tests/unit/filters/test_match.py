"""Matching semantics, assertion by assertion, in both implementations."""

from __future__ import annotations

import json

import pytest

from ._support import instance_status, matcher

T = b"InstanceStatusUpdated\0namespace=root\0node=n1\0path=svc1\0"


def _m(impl, *exprs, topic=T, data=b"{}"):
    return matcher(impl, *exprs).match(topic, data)


def _d(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def test_no_filter_matches_everything(impl):
    """Without any filter every event matches, even malformed frames."""
    assert _m(impl) and _m(impl, topic=b"", data=b"") and _m(impl, topic=b"\xff", data=b"{")


def test_kind_must_be_exact(impl):
    """A kind matches the topic's kind exactly, not a prefix of it."""
    assert _m(impl, "InstanceStatusUpdated")
    assert not _m(impl, "InstanceStatusUpdated", topic=b"InstanceStatusUpdatedX\0")
    assert not _m(impl, "ObjectStatusUpdated")
    assert _m(impl, "InstanceStatusUpdated", topic=b"InstanceStatusUpdated")  # no NUL at all


@pytest.mark.parametrize(("expr", "expected"), [
    ("path=svc1", True), ("path=svc", False), ("path=svc1x", False), ("node=n1,path=svc1", True),
    ("node=n2,path=svc1", False), ("zone=a", False), ("path!=svc2", True), ("path!=svc1", False),
    ("zone!=a", True), ("path=svc*", True), ("path=s?c1", True), ("path=svc[0-9]", True),
    ("path=svc[!1]", False), ("path=*2", False), ("path!=svc*", False), ("path!=x*", True),
    ("zone!=*", True), ("zone=*", False), ("path=*", True), ("path=", False),
])
def test_label_assertions(impl, expr, expected):
    """key=value, key!=value (absent label passes) and globs on topic labels."""
    assert _m(impl, expr) is expected


def test_label_empty_value_and_first_duplicate(impl):
    """key= needs the label present and empty; with duplicate keys the first one counts."""
    assert _m(impl, "path=", topic=b"K\0path=\0")
    assert not _m(impl, "path=", topic=b"K\0")
    assert _m(impl, "path=a", topic=b"K\0path=a\0path=b\0")
    assert not _m(impl, "path=b", topic=b"K\0path=a\0path=b\0")
    assert _m(impl, "path=a=b", topic=b"K\0path=a=b\0")  # the value keeps later '='


def test_label_glob_characters_are_utf8(impl):
    """? and classes step over whole UTF-8 characters."""
    topic = "K\0path=caf\u00e9\0".encode()
    assert _m(impl, "path=caf?", topic=topic)
    assert _m(impl, "path=caf[\u00e0-\u00ff]", topic=topic)
    assert not _m(impl, "path=caf??", topic=topic)
    assert _m(impl, "path=[]]x", topic=b"K\0path=]x\0")
    assert _m(impl, "path=[!a]x", topic=b"K\0path=-x\0")


DATA = _d({"labels": {"node": "n1"}, "s": "up", "n": 3, "f": 0.5, "t": True, "z": None,
           "o": {"a.b": {"c": "x"}, "fs#1": 1}, "a": [10, {"k": "v"}, [1]], "e": {}, "u": "caf\u00e9",
           "at": "2024-01-02T03:04:05Z", "big": 12345678901234567890, "neg": -2})


@pytest.mark.parametrize(("expr", "expected"), [
    ('.s="up"', True), (".s=up", True), ('.s!="up"', False), ('.s!="down"', True),
    ('.s>"uo"', True), ('.s<"uq"', True), ('.s>="up"', True), ('.s<="up"', True), ('.s>"up"', False),
    (".n=3", True), (".n=3.0", True), (".n=3e0", True), (".n!=3", False), (".n>2.5", True), (".n<10", True),
    (".n>=3", True), (".n<=2", False), ('.n="3"', False), ('.n!="3"', True), ('.s=3', False),
    (".f=0.5", True), (".f<1", True), (".neg<-1", True), (".big>1e19", True),
    (".t=true", True), (".t!=false", True), (".t=false", False), (".t>false", False), ('.t="true"', False),
    (".z=null", True), (".z!=null", False), (".z!=1", True), (".z<1", False),
    (".missing=1", False), (".missing!=1", False), (".missing!=null", False),
    ('.o."a.b".c=x', True), (".o.fs#1=1", True), ('.o."fs#1"=1', True),
    (".a[0]=10", True), (".a[1].k=v", True), (".a[2][0]=1", True), (".a[3]=1", False), (".a.x=1", False),
    (".o=1", False), (".o!=1", False), (".e!=1", False), (".a!=1", False), (".a[2]!=1", False),
    (".labels.node=n1", True), (".u=caf\u00e9", True), ('.u>"caf"', True),
    ('.at>"2024-01-01T00:00:00Z"', True), ('.at<"2024-01-01T00:00:00Z"', False),
    ('.s.x="up"', False), (".n[0]=3", False),
])
def test_data_assertions(impl, expr, expected):
    """Data assertions: operators, types, paths, missing paths and containers."""
    assert _m(impl, expr, data=DATA) is expected


def test_escaped_keys_and_values_in_data(impl):
    """Keys and strings are compared decoded: escapes, surrogate pairs, lone surrogates."""
    data = b'{"\\u0061":"\\u00e9\\ud83d\\ude00","b\\"q":"x\\ny","l":"\\ud800"}'
    assert _m(impl, '.a="\u00e9\U0001F600"', data=data)
    assert _m(impl, '."b\\"q"="x\\ny"', data=data)
    assert _m(impl, '.l="\\ud800"', data=data)
    assert not _m(impl, '.l="\\udc00"', data=data)


@pytest.mark.parametrize("data", [
    b"", b"{", b'{"s"', b'{"s":', b'{"s":"up', b'{"s":"up"', b'{"s":"up"x', b'{"x":[1,}, "s":"up"}',
    b'{"x":01,"s":"up"}', b'{"x":tru,"s":"up"}', b'{"x":"\x01","s":"up"}', b'{"x":"\\q","s":"up"}',
    b'["s","up"]', b'"s"', b"null", b'{"x":{"y":[}]},"s":"up"}', b'{"x":1.,"s":"up"}',
    b'{"x":' + b"[" * 20000 + b"]" * 20000 + b',"s":"up"}',
])
def test_malformed_data_never_matches(impl, data):
    """Truncated or malformed data before or at the asserted value is no match, never an error."""
    assert not _m(impl, '.s="up"', data=data)
    assert not _m(impl, '.s!="down"', data=data)


def test_scan_stops_at_the_value(impl):
    """Bytes after the asserted value and its delimiter are not examined."""
    assert _m(impl, '.s="up"', data=b'{"s":"up",garbage')
    assert _m(impl, '.s="up"', data=b' {"s" : "up" } trailing')


def test_filters_are_ored_each_its_own_conjunction(impl):
    """The same kind may appear in several filters with different data assertions."""
    m = matcher(impl, "InstanceStatusUpdated,path=svc1,.instance_status.avail=up",
                "InstanceStatusUpdated,path=svc2,.instance_status.avail=down")
    assert m.match(*instance_status("svc1", avail="up"))
    assert m.match(*instance_status("svc2", avail="down"))
    assert not m.match(*instance_status("svc1", avail="down"))
    assert not m.match(*instance_status("svc2", avail="up"))


def test_kindless_data_assertion_applies_to_every_kind(impl):
    """A data assertion without a kind filters events of every kind (upstream ignores it)."""
    m = matcher(impl, ".node=n1")
    assert m.match(b"NodeStatusUpdated\0node=n1\0", b'{"labels":null,"node":"n1"}')
    assert m.match(*instance_status(node="n1"))
    assert not m.match(*instance_status(node="n2"))
    assert not m.match(b"WatchDog\0", b'{"labels":null,"bus":"x"}')


def test_data_assertions_are_anded(impl):
    """Several data assertions in one filter must all hold."""
    assert _m(impl, ".n>2,.n<4,.s=up", data=DATA)
    assert not _m(impl, ".n>2,.n<3,.s=up", data=DATA)


def test_non_bytes_frames_are_accepted(impl):
    """bytearray and memoryview frames (zmq buffers) match like bytes."""
    m = matcher(impl, "path=svc1,.s=up")
    assert m.match(bytearray(T), memoryview(DATA))
