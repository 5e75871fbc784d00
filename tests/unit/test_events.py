"""The event model: every documented kind, upstream field names, labels first, the kind table."""

from __future__ import annotations

import re

import msgspec
import pytest

from omd.model import events
from omd.errors import UnknownKindError, ValidationError
from tests.helpers import REPO

DOC = (REPO.parent / "shared" / "reference" / "node-events-doc.txt")


def _doc_kinds() -> set[str]:
    if DOC.exists():
        section = DOC.read_text().split("Event Kinds")[1].split("Example filters")[0]
        return {w for w in re.findall(r"\b[A-Z][A-Za-z]+\b", section) if re.search(r"[a-z][A-Z]", w) or w in {"Exec", "Log", "WatchDog"}}
    return set()


def test_every_documented_kind_has_a_struct():
    """Every kind of the user documentation, and upstream's extra ones, has a Struct."""
    extra = {"NodeLabelsUpdated", "NodeLabelsCommited", "ObjectCreated", "ObjectDeleted"}
    for name in _doc_kinds() | extra:
        assert name in events.KINDS, name
        assert events.KINDS[name].type.kind == name
    assert len(events.KINDS) >= 88


def test_labels_are_encoded_first_for_every_kind():
    """The data of every kind starts with labels, as upstream's Go encoding does."""
    for info in events.KINDS.values():
        data = msgspec.json.encode(info.type(labels={"node": "n1"}))
        assert data.startswith(b'{"labels":{"node":"n1"}'), info.name


def test_upstream_field_names():
    """Fields keep upstream's exact names, including untagged Go names."""
    enc = msgspec.json.encode
    assert b'"Reason"' in enc(events.LeaveError())
    assert b'"ID"' in enc(events.SubscriptionQueueThreshold()) and b'"from":0' in enc(events.SubscriptionQueueThreshold())
    assert b'"IsUpgrading"' in enc(events.NodeRejoin())
    assert b'"Node"' in enc(events.NodeStatusGenUpdates())
    assert enc(events.InstanceStatusUpdated().instance_status).startswith(b'{"avail":"undef"')
    assert b'"frozen_at":"0001-01-01T00:00:00Z"' in enc(events.NodeStatusUpdated())


def test_unknown_kind_suggests_close_names():
    """Looking up an unknown kind raises an error naming the closest kinds."""
    with pytest.raises(UnknownKindError) as info:
        events.kind_info("InstanceStatusUpdate")
    assert "InstanceStatusUpdated" in str(info.value)
    assert info.value.suggestions[0] == "InstanceStatusUpdated"
    with pytest.raises(UnknownKindError, match="did you mean .*NodeStatusUpdated"):
        events.kind_info("nodestatusupdated")


def test_kind_table_forward_replay_identity():
    """The kind table carries upstream's forwarding and replay sets and state identities."""
    k = events.KINDS
    assert k["InstanceStatusUpdated"].forwarded and k["InstanceStatusUpdated"].replay
    assert k["InstanceStatusUpdated"].identity == ("path", "node")
    assert not k["ObjectStatusUpdated"].forwarded and k["ObjectStatusUpdated"].replay
    assert k["InstanceStatusDeleted"].removes == ("InstanceStatus",)
    assert k["InstanceStatusDeleted"].identity == ("path", "node")
    assert k["HeartbeatAlive"].group == k["HeartbeatStale"].group
    assert not k["WatchDog"].is_state and not k["Log"].forwarded
    assert len(events.REPLAY_ORDER) == 24 and all(k[n].is_state for n in events.REPLAY_ORDER)
    assert events.identity_of(k["HeartbeatAlive"], {"labels": {"node": "a"}, "node": "b", "hb_id": "hb#1.rx"}) == ("a", "hb#1.rx", "b")


def test_decode_data_validates_and_names_the_field():
    """Data that does not fit the kind's schema names the field at fault."""
    ok = events.decode_data("InstanceStatusUpdated", b'{"labels":null,"path":"svc1","instance_status":{"avail":"up"}}')
    assert ok.instance_status.avail == "up"
    with pytest.raises(ValidationError) as info:
        events.decode_data("InstanceStatusUpdated", b'{"path":"svc1","instance_status":{"avail":3}}')
    assert info.value.path == "$.instance_status.avail"
    with pytest.raises(ValidationError, match="unknown field `bogus`"):
        events.decode_data("WatchDog", b'{"bogus":1}')
    with pytest.raises(ValidationError):
        events.decode_data("WatchDog", b"not json")
