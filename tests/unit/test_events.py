"""The event model: every documented kind, upstream field names, labels first, the kind table."""

from __future__ import annotations

import importlib
import pkgutil
import re

import msgspec
import pytest

import omd

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
    with pytest.raises(ValidationError):
        events.decode_data("WatchDog", b"not json")


def test_wire_decoding_ignores_fields_of_a_newer_version():
    """decode_data (typed consumers of the wire) ignores unknown fields, top-level and nested, and keeps the rest."""
    event = events.decode_data("InstanceStatusPost", b'{"labels":{"node":"n1"},"path":"svc1","node":"n1",'
                                                     b'"future":{"x":1},"instance_status":{"avail":"up","new":2}}')
    assert event.path == "svc1" and event.instance_status.avail == "up"
    assert events.decode_data("WatchDog", b'{"bogus":1,"bus":"b"}').bus == "b"


def test_api_input_refuses_an_unknown_top_level_field():
    """from_builtins (API input) refuses an unknown top-level field, naming it in the path; nested ones pass."""
    with pytest.raises(ValidationError, match="unknown field `bogus`") as info:
        events.from_builtins("InstanceStatusPost", {"path": "svc1", "bogus": 1})
    assert info.value.path == "$.bogus" and info.value.kind == "InstanceStatusPost"
    with pytest.raises(ValidationError) as info:
        events.from_builtins("WatchDog", {"bus": "b", "a b": 1})
    assert info.value.path == "$['a b']"
    ok = events.from_builtins("InstanceStatusPost", {"path": "svc1", "instance_status": {"avail": "up", "new": 2}})
    assert ok.instance_status.avail == "up"
    assert events.from_builtins("SubscriptionQueueThreshold", {"from": 3}).from_ == 3  # encode names are the fields


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_event_subclass_is_registered():
    """Every Event subclass of every omd module, at any depth (ExecFailed is a grandchild), is a registered kind."""
    for module in pkgutil.walk_packages(omd.__path__, "omd."):
        if not module.name.endswith("__main__"):  # running it would start the daemon
            importlib.import_module(module.name)
    subclasses = [c for c in _all_subclasses(events.Event) if "<locals>" not in c.__qualname__]
    assert events.ExecFailed in subclasses and len(subclasses) == len(events.KINDS)
    for cls in subclasses:
        assert events.KINDS[cls.__name__].type is cls and cls.kind == cls.__name__
    assert events.KIND_NAMES == tuple(sorted(events.KINDS))


@pytest.fixture
def scratch_kinds(monkeypatch):
    """Kinds a test defines register in copies of the registry, restored afterwards."""
    monkeypatch.setattr(events, "KINDS", dict(events.KINDS))
    monkeypatch.setattr(events, "_GROUPS", dict(events._GROUPS))
    monkeypatch.setattr(events, "KIND_NAMES", events.KIND_NAMES)


def test_a_new_subclass_registers_with_its_facts(scratch_kinds):
    """Defining a class is registering it: its declared facts, its identity from the group it removes, no inheritance."""
    class ScratchThingUpdated(events.Event, kw_only=True):
        facts = events.Facts(publishers={"nmon"}, api="admin", forwarded=True, group="ScratchThing",
                             identity=("path", "node"))
        path: str = ""
        node: str = ""

    class ScratchThingDeleted(events.Event, kw_only=True):
        facts = events.Facts(publishers={"nmon"}, removes=("ScratchThing",))
        path: str = ""
        node: str = ""

    class ScratchExecChild(events.ExecFailed, kw_only=True):  # a great-grandchild of Event, no facts
        extra: str = ""

    info = events.KINDS["ScratchThingUpdated"]
    assert info.type is ScratchThingUpdated and ScratchThingUpdated.kind == "ScratchThingUpdated"
    assert info.publishers == frozenset({"nmon"}) and info.api == "admin" and info.forwarded and info.peer
    assert info.is_state and info.identity == ("path", "node") and not info.replay
    gone = events.kind_info("ScratchThingDeleted")
    assert gone.removes == ("ScratchThing",) and gone.identity == ("path", "node") and not gone.peer
    child = events.KINDS["ScratchExecChild"]
    assert child.publishers == frozenset() and child.api is None and not child.forwarded  # never inherited
    assert "ScratchExecChild" in events.KIND_NAMES
    assert events.decode_data("ScratchExecChild", b'{"extra":"x","duration":3}').duration == 3


@pytest.mark.parametrize("declared, message", [
    (dict(api="superuser"), "api must be one of"),
    (dict(publishers={"nobody"}), "publishers must be names"),
    (dict(publishers="nmon"), "publishers must be names"),
    (dict(peer=True), "only forwarded kinds"),
    (dict(replay=99), "a replayed kind is a state kind"),
    (dict(removes=("NoSuchGroup",)), "declare a kind of that group first"),
    (dict(group="InstanceStatus", identity=("path",)), "has identity"),
])
def test_inconsistent_facts_are_refused_at_definition(scratch_kinds, declared, message):
    """A kind whose facts contradict each other or the registry fails when its class is defined, naming why."""
    with pytest.raises(TypeError, match=message):
        class ScratchBad(events.Event, kw_only=True):
            facts = events.Facts(**declared)
    assert "ScratchBad" not in events.KINDS


def test_a_kind_name_is_defined_once(scratch_kinds):
    """A second class named like an existing kind is refused instead of replacing it."""
    with pytest.raises(TypeError, match="defined twice"):
        class WatchDog(events.Event, kw_only=True):
            pass
    assert events.KINDS["WatchDog"].type is events.WatchDog


def test_publish_rights_of_the_control_and_owned_kinds():
    """DaemonCtl comes from the gateway only and never through the API; owned kinds are root-only; InstanceStatusPost admin."""
    k = events.KINDS
    assert k["DaemonCtl"].publishers == frozenset({"gateway"}) and k["DaemonCtl"].api is None
    assert all(k[n].api is None for n in ("ForgetPeer", "HeartbeatRotateRequest", "WatchDog", "SubscriptionError"))
    assert k["NodeStatsUpdated"].publishers == frozenset({"nmon"}) and k["NodeStatsUpdated"].api == "root"
    assert k["InstanceStatusUpdated"].api == "root" and k["InstanceStatusPost"].api == "admin"
    assert k["Log"].publishers == events.EVERY_PROCESS and k["HeartbeatAlive"].publishers == frozenset({"hb"})
    assert all(info.peer == info.forwarded for info in k.values())
    assert all(info.api in (None, *events.ROLES) for info in k.values())
    assert k["DaemonCtl"].may_publish("gateway") and not k["DaemonCtl"].may_publish("nmon")
    assert k["NodeStatsUpdated"].may_publish("gateway")  # injected by root through the API
    assert not k["WatchDog"].may_publish("gateway") and k["WatchDog"].may_publish("daemon")
    assert k["InstanceStatusUpdated"].may_publish("hb#1.rx") and not k["ObjectStatusUpdated"].may_publish("hb#1.rx")


def test_publisher_name_and_pid_from_a_publisher_id():
    """A publisher id `name:pid:uuid` gives its name and pid; a malformed one gives no name and no pid."""
    from omd.sockets import Publisher
    assert events.publisher_name("gateway:4242:0a1b2c3d") == "gateway"
    assert events.publisher_pid("gateway:4242:0a1b2c3d") == 4242
    assert events.publisher_name("hb#1.rx:7:ffff0000") == "hb#1.rx"
    for bad in ("gateway", "gateway:x:uuid", "gateway:12", ":12:uuid", "gateway:12:", "", "a:١٢:u"):
        assert events.publisher_name(bad) == "" and events.publisher_pid(bad) is None, bad
    import zmq, os
    ctx = zmq.Context()
    try:
        pub = Publisher(ctx, "inproc://pubid", "n1", "gateway")
        assert events.publisher_name(pub.pub_id) == "gateway" and events.publisher_pid(pub.pub_id) == os.getpid()
        pub.close(linger_ms=0)
    finally:
        ctx.term()


def test_peer_may_publish_only_forwarded_kinds_under_its_own_node():
    """A peer may inject a forwarded kind it originated; any other kind, node label or a relayed copy is refused with a reason."""
    ok = {"node": "n2", "namespace": "root", "path": "svc1"}
    assert events.peer_may_publish("InstanceStatusUpdated", ok, "n2") is None
    assert "not a kind peers forward" in events.peer_may_publish("DaemonCtl", {"node": "n2"}, "n2")
    assert "not a kind peers forward" in events.peer_may_publish("ObjectStatusUpdated", ok, "n2")
    assert "not the peer 'n2'" in events.peer_may_publish("InstanceStatusUpdated", {**ok, "node": "n1"}, "n2")
    assert "not the peer" in events.peer_may_publish("NodeStatsUpdated", None, "n2")
    assert "relayed copy" in events.peer_may_publish("NodeStatsUpdated", {"node": "n2", "from": "peer"}, "n2")
    assert "unknown kind" in events.peer_may_publish("Bogus", {"node": "n2"}, "n2")
