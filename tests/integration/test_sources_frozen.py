"""Frozen flags on a live daemon: node and instance freeze, cluster status, nmon's SIGHUP."""

from __future__ import annotations

import os
import signal

from omd.model import events
from omd import frozen
from tests.integration.test_sources_objects import BASE, bus, expect, post  # noqa: F401  (bus: fixture)


def test_node_freeze_flips_node_status_and_cluster_status(daemon_factory, bus):
    """Freezing the node sets NodeStatusUpdated frozen_at and ClusterStatusUpdated is_frozen; thawing resets both."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"NodeStatusUpdated\0", b"ClusterStatusUpdated\0", b"NodeFrozen\0", b"NodeFrozenFile",
                      b"NodeStatsUpdated\0"])
    # The daemon says "started" once its subsystems are spawned, not initialized: wait for
    # nmon's stats loop so that it has read the (absent) flag before we freeze.
    expect(sub, "NodeStatsUpdated")
    at = frozen.freeze_node(d.paths)
    data, labels = expect(sub, "NodeFrozenFileUpdated")
    assert data["at"] == at and labels == {"node": "n1"}
    data, _ = expect(sub, "NodeFrozen")
    assert data == {"labels": {"node": "n1"}, "node": "n1", "is_frozen": True, "frozen_at": at}
    expect(sub, "NodeStatusUpdated", lambda data, _: data["node_status"]["frozen_at"] == at)
    expect(sub, "ClusterStatusUpdated", lambda data, _: data["cluster_status"]["is_frozen"])
    mark = sub.mark()
    frozen.unfreeze_node(d.paths)
    expect(sub, "NodeStatusUpdated", lambda data, _: data["node_status"]["frozen_at"] == events.ZERO_TIME,
           since=mark)
    data, labels = expect(sub, "ClusterStatusUpdated", lambda data, _: not data["cluster_status"]["is_frozen"],
                          since=mark)
    assert labels == {"node": "n1"} and data["cluster_status"]["is_compat"]


def test_instance_freeze_updates_instance_and_object_status(daemon_factory, bus):
    """Freezing an instance republishes its status with frozen_at; the object becomes frozen, then unfrozen."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"InstanceStatusUpdated\0", b"ObjectStatusUpdated\0", b"InstanceFrozenFile"])
    (d.paths.etc / "foo.conf").write_text("")
    post(bus.pub(d), "foo", avail="up", overall="up", provisioned="true")
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["frozen"] == "unfrozen")
    at = frozen.freeze_instance(d.paths, "foo")
    data, labels = expect(sub, "InstanceFrozenFileUpdated")
    assert data["at"] == at and labels == {"namespace": "root", "path": "foo", "node": "n1"}
    data, _ = expect(sub, "InstanceStatusUpdated", lambda data, _: data["instance_status"]["frozen_at"] == at)
    assert data["instance_status"]["avail"] == "up"
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["frozen"] == "frozen")
    mark = sub.mark()
    frozen.unfreeze_instance(d.paths, "foo")
    expect(sub, "InstanceFrozenFileRemoved", since=mark)
    expect(sub, "InstanceStatusUpdated",
           lambda data, _: data["instance_status"]["frozen_at"] == events.ZERO_TIME, since=mark)
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["frozen"] == "unfrozen", since=mark)


def test_cluster_is_frozen_only_when_every_node_is(daemon_factory, bus):
    """A thawed peer (NodeStatusUpdated from=peer) keeps is_frozen false until it freezes too."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"ClusterStatusUpdated\0", b"NodeStatusUpdated\0"])
    peer = bus.pub(d, "n2", "hb-rx")
    thawed = events.NodeStatus(compat=1)

    def peer_status(status):
        mark = sub.mark()
        assert peer.publish(events.NodeStatusUpdated(node="n2", node_status=status), {"node": "n2", "from": "peer"})
        return mark

    peer_status(thawed)
    at = frozen.freeze_node(d.paths)
    expect(sub, "NodeStatusUpdated", lambda data, labels: data["node_status"]["frozen_at"] == at)
    mark = peer_status(events.NodeStatus(compat=1, frozen_at=at))
    expect(sub, "ClusterStatusUpdated", lambda data, _: data["cluster_status"]["is_frozen"], since=mark)
    # This node still frozen, the peer thawed: the cluster is not frozen any more.
    mark = peer_status(thawed)
    expect(sub, "ClusterStatusUpdated", lambda data, _: not data["cluster_status"]["is_frozen"], since=mark)


def test_sighup_to_nmon_republishes_node_config(daemon_factory, bus):
    """SIGHUP makes nmon re-read the config: NodeConfigUpdated and NodeStatusUpdated carry the new labels."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"NodeConfigUpdated\0", b"NodeStatusUpdated\0"])
    d.paths.config_file.write_text(BASE.replace('name = "n1"', 'name = "n1"\nlabels = {zone = "a"}'))
    os.kill(d.subsystem_pid("nmon"), signal.SIGHUP)
    data, labels = expect(sub, "NodeConfigUpdated", lambda data, _: data["node_config"]["labels"] == {"zone": "a"})
    assert labels == {"node": "n1"}
    expect(sub, "NodeStatusUpdated", lambda data, _: data["node_status"]["labels"] == {"zone": "a"})
