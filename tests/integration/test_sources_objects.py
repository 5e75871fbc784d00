"""Object sources on a live daemon: config files, posted instance statuses, object status."""

from __future__ import annotations

import time

import pytest

from omd.model import events
from omd.sockets import Publisher
from tests.helpers import ready_subscriber, wait_for

BASE = """[node]
name = "n1"
[daemon]
watchdog_interval = 0.5
restart_backoff_initial = 0.1
[nmon]
stats_interval = 0.3
[discover]
debounce = 0.05
"""


# A topic each event source subscribes to: seen at the bus, the source's subscriptions are in force.
SOURCE_TOPICS = (b"InstanceStatusPost\0", b"InstanceStatusUpdated\0", b"NodeFrozenFileUpdated\0")


def wait_sources(zctx, daemon):
    """Wait until istat, omon and nmon have subscribed (posts published before would be lost)."""
    probe = Publisher(zctx, daemon.endpoint("in"), "test", "probe")
    try:
        for topic in SOURCE_TOPICS:
            assert probe.wait_subscription(topic, 15), f"no subscriber for {topic!r}"
    finally:
        probe.close(linger_ms=0)


@pytest.fixture
def bus(zctx):
    """Open bus sockets for a test (`bus.sub(daemon, topics)`, `bus.pub(daemon, origin)`), all closed after it."""

    class Bus:
        def __init__(self):
            self.sockets = []

        def sub(self, daemon, topics):
            watch = Watch(ready_subscriber(zctx, daemon, topics))
            self.sockets.append(watch)
            wait_sources(zctx, daemon)
            return watch

        def pub(self, daemon, origin="n1", name="test"):
            sock = Publisher(zctx, daemon.endpoint("in"), origin, name)
            self.sockets.append(sock)
            return sock

    made = Bus()
    yield made
    for sock in made.sockets:
        sock.close()


class Watch:
    """A subscriber that keeps what it received, so that expectations do not depend on the
    order in which independent subsystems publish."""

    def __init__(self, sub):
        self.sub = sub
        self.history = []

    def mark(self):
        """A position in the history: `expect(..., since=mark)` looks only at what came after."""
        self.drain()
        return len(self.history)

    def drain(self):
        while (msg := self.sub.recv(timeout=0.001)) is not None:
            self.history.append(msg)

    def close(self):
        self.sub.close()


def expect(watch, kind, pred=lambda data, labels: True, timeout=10.0, since=0, forbid=()):
    """Data and labels of the first `kind` message matching `pred` received at or after `since`.

    Fails after `timeout` seconds, or when a message of a `forbid` kind comes first.
    """
    deadline = time.monotonic() + timeout
    i = since
    while True:
        while i < len(watch.history):
            msg = watch.history[i]
            i += 1
            assert msg.kind not in forbid, f"unexpected {msg.kind}: {msg.data_obj()}"
            if msg.kind == kind:
                data = msg.data_obj()
                if pred(data, msg.labels):
                    return data, msg.labels
        left = deadline - time.monotonic()
        msg = watch.sub.recv(timeout=left) if left > 0 else None
        assert msg is not None, f"no matching {kind} within {timeout}s; saw {[m.kind for m in watch.history[since:]][-30:]}"
        watch.history.append(msg)


def post(pub, path, node="n1", **status):
    """Publish an InstanceStatusPost as the gateway does."""
    namespace = path.split("/")[0] if path.count("/") == 2 else "root"
    event = events.from_builtins("InstanceStatusPost", {"path": path, "node": node, "instance_status": status})
    assert pub.publish(event, {"namespace": namespace, "path": path, "node": node, "origin": "api"})


def test_posted_status_makes_object_avail_up_and_provisioned(daemon_factory, bus):
    """A posted status shows in InstanceStatusUpdated (resources included) and ObjectStatusUpdated up/true."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b""])
    (d.paths.etc / "foo.conf").write_text("[DEFAULT]\nnodes = n1\n[fs#1]\nmonitor = true\n")
    expect(sub, "InstanceConfigUpdated", lambda data, _: data["path"] == "foo")
    pub = bus.pub(d)
    post(pub, "foo", avail="up", overall="up", provisioned="true",
         resources={"fs#1": {"status": "up", "label": "/srv", "type": "fs.flag"}})
    data, labels = expect(sub, "InstanceStatusUpdated")
    assert labels == {"node": "n1", "namespace": "root", "path": "foo"}
    assert data["instance_status"]["resources"]["fs#1"]["status"] == "up"
    assert data["instance_status"]["frozen_at"] == events.ZERO_TIME
    data, labels = expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "up")
    assert labels == {"node": "n1", "namespace": "root", "path": "foo"}
    status = data["object_status"]
    assert status["provisioned"] == "true" and status["topology"] == "failover"
    assert status["up_instances_count"] == 1 and status["frozen"] == "unfrozen" and status["scope"] == ["n1"]


def test_three_objects_avail_up(daemon_factory, bus):
    """Three objects (root svc, namespaced svc, flex) each reach ObjectStatusUpdated avail up."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [events.KINDS["ObjectStatusUpdated"].name.encode() + b"\0"])
    files = {
        "foo1": d.paths.etc / "foo1.conf",
        "ns1/svc/foo2": d.paths.etc / "namespaces" / "ns1" / "svc" / "foo2.conf",
        "foo3": d.paths.etc / "foo3.conf",
    }
    for path, file in files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("[DEFAULT]\ntopology = flex\nflex_min = 1\n" if path == "foo3" else "")
    pub = bus.pub(d)
    for path in files:
        post(pub, path, avail="up", overall="up", provisioned="true")
    for path in files:
        expect(sub, "ObjectStatusUpdated", lambda data, _, path=path: data["path"] == path
               and data["object_status"]["avail"] == "up")


def test_bad_config_keeps_last_good_and_watcher_alive(daemon_factory, bus):
    """A config that does not parse is logged (Log error), keeps the last good config and the watcher."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b""])
    file = d.paths.etc / "foo.conf"
    file.write_text("[DEFAULT]\ntopology = flex\nflex_min = 1\n")
    good, _ = expect(sub, "InstanceConfigUpdated")
    pid = d.subsystem_pid("discover")
    mark = sub.mark()
    file.write_text("[DEFAULT]\ntopology = flex\nflex_min = lots\n")
    expect(sub, "ConfigFileUpdated", since=mark, forbid=("InstanceConfigUpdated", "InstanceConfigDeleted"))
    data, _ = expect(sub, "Log", lambda data, _: data["subsystem"] == "discover" and data["level"] == "error",
                     since=mark, forbid=("InstanceConfigUpdated", "InstanceConfigDeleted", "ObjectDeleted"))
    assert "object_config_invalid" in data["message"] and "flex_min" in data["message"]
    # The last good config is in force: a posted status aggregates with the flex topology.
    pub = bus.pub(d)
    post(pub, "foo", avail="up", overall="up", provisioned="true")
    data, _ = expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "up",
                     since=mark, forbid=("InstanceConfigDeleted", "ObjectDeleted"))
    assert data["object_status"]["topology"] == "flex"
    file.write_text("[DEFAULT]\ntopology = flex\nflex_min = 1\nflex_max = 1\n")
    fixed, _ = expect(sub, "InstanceConfigUpdated", since=mark)
    assert fixed["instance_config"]["csum"] != good["instance_config"]["csum"]
    assert fixed["instance_config"]["flex"]["max"] == 1
    assert d.subsystem_pid("discover") == pid


def test_removed_config_deletes_instance_and_object_status(daemon_factory, bus):
    """Removing the config file ends in InstanceStatusDeleted and ObjectStatusDeleted."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b""])
    file = d.paths.etc / "vol" / "v1.conf"
    file.parent.mkdir(parents=True)
    file.write_text("")
    data, labels = expect(sub, "ObjectCreated")
    assert data["path"] == "vol/v1" and labels == {"namespace": "root", "path": "vol/v1", "node": "n1"}
    pub = bus.pub(d)
    post(pub, "vol/v1", avail="up", overall="up", provisioned="true")
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "up")
    file.unlink()
    expect(sub, "ConfigFileRemoved")
    expect(sub, "InstanceStatusDeleted", lambda data, _: data["path"] == "vol/v1")
    expect(sub, "ObjectStatusDeleted", lambda data, _: data["path"] == "vol/v1")


def test_refused_posts_publish_nothing(daemon_factory, bus):
    """Posts for another node or with invalid values are refused; a valid one goes through."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"InstanceStatusUpdated\0"])
    pub = bus.pub(d)
    post(pub, "foo", node="n2", avail="up")
    post(pub, "foo", avail="sideways")
    post(pub, "foo", avail="down", overall="down", provisioned="false")
    data, _ = expect(sub, "InstanceStatusUpdated")
    assert data["instance_status"]["avail"] == "down"


def test_peer_instances_count_in_object_status(daemon_factory, bus):
    """InstanceStatusUpdated from a peer (from=peer) joins the aggregate: two failover instances up is warn."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"ObjectStatusUpdated\0"])
    (d.paths.etc / "foo.conf").write_text("[DEFAULT]\nnodes = n1 n2\n")
    pub = bus.pub(d)
    post(pub, "foo", avail="up", overall="up", provisioned="true")
    expect(sub, "ObjectStatusUpdated",
           lambda data, _: data["object_status"]["avail"] == "up" and data["object_status"]["scope"] == ["n1", "n2"])
    peer = bus.pub(d, "n2", "hb-rx")
    status = events.InstanceStatus(avail="up", overall="up", provisioned="true")
    assert peer.publish(events.InstanceStatusUpdated(path="foo", node="n2", instance_status=status),
                        {"namespace": "root", "path": "foo", "node": "n2", "from": "peer"})
    data, _ = expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "warn")
    assert data["object_status"]["up_instances_count"] == 2 and data["object_status"]["scope"] == ["n1", "n2"]


def test_polling_watcher_and_debounced_rapid_writes(daemon_factory, bus):
    """With watcher = polling, changes are seen; 20 rapid writes coalesce into a few events with the last contents."""
    d = daemon_factory(BASE.replace("debounce = 0.05", 'debounce = 0.3\nwatcher = "polling"\npoll_interval = 0.2'))
    sub = bus.sub(d, [b"ConfigFileUpdated\0", b"InstanceConfigUpdated\0"])
    file = d.paths.etc / "foo.conf"
    for i in range(20):
        file.write_text(f"[DEFAULT]\npriority = {i}\n")
    data, _ = expect(sub, "InstanceConfigUpdated", lambda data, _: data["instance_config"]["priority"] == 19)
    assert len([m for m in sub.history if m.kind == "ConfigFileUpdated"]) <= 3
    assert '"watcher": "PollingObserver"' in d.log() or "watcher=PollingObserver" in d.log()


def test_malformed_peer_status_is_dropped_not_stored(daemon_factory, bus):
    """An instance status that is not an object is dropped: later updates of the object still
    aggregate (before, it was stored and every later aggregation of the object failed)."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"ObjectStatusUpdated\0"])
    (d.paths.etc / "foo.conf").write_text("[DEFAULT]\nnodes = n1 n2\n")
    peer = bus.pub(d, "n2", "hb-rx")
    labels = {"namespace": "root", "path": "foo", "node": "n2", "from": "peer"}
    assert peer.publish_raw("InstanceStatusUpdated", labels,
                            b'{"labels":{},"path":"foo","node":"n2","instance_status":"sideways"}')
    post(bus.pub(d), "foo", avail="up", overall="up", provisioned="true")
    data, _ = expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "up")
    assert data["object_status"]["up_instances_count"] == 1
    wait_for(lambda: "omon_message_dropped" in d.log(), what="the drop logged")


def test_burst_of_peer_updates_ends_in_the_last_state(daemon_factory, bus):
    """A burst of 2,001 alternating peer updates (folded in bursts by omon) ends published
    with the last one: n1 up and n2 up is warn (failover), with two instances up. Which
    intermediate states are published depends on where omon's bursts end, so only the
    last is asserted."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"ObjectStatusUpdated\0"])
    (d.paths.etc / "foo.conf").write_text("[DEFAULT]\nnodes = n1 n2\n")
    post(bus.pub(d), "foo", avail="up", overall="up", provisioned="true")
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "up")
    since = sub.mark()
    peer = bus.pub(d, "n2", "hb-rx")
    labels = {"namespace": "root", "path": "foo", "node": "n2", "from": "peer"}
    for i in range(2001):
        avail = "up" if i % 2 == 0 else "down"
        status = events.InstanceStatus(avail=avail, overall=avail, provisioned="true")
        assert peer.publish(events.InstanceStatusUpdated(path="foo", node="n2", instance_status=status), labels)
    # A marker object after the burst: omon publishes in input order (and sorts the objects
    # of one burst, "zzz" last), so once its status is in, foo's final status is too.
    marker = events.InstanceStatus(avail="up", overall="up", provisioned="true")
    assert peer.publish(events.InstanceStatusUpdated(path="zzz", node="n2", instance_status=marker),
                        {**labels, "path": "zzz"})
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["path"] == "zzz", since=since)
    foo = [m.data_obj()["object_status"] for m in sub.history[since:]
           if m.kind == "ObjectStatusUpdated" and m.data_obj()["path"] == "foo"]
    assert foo and foo[-1]["avail"] == "warn" and foo[-1]["up_instances_count"] == 2
