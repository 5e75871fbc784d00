"""Object and cluster status aggregation rules, and when omon publishes (omd.subsystems.omon)."""

from __future__ import annotations

import pytest

from omd.model.events import ZERO_TIME
from omd.subsystems.omon import Omon, aggregate, cluster_status

FROZEN = "2026-01-01T00:00:00.000000000Z"


def inst(avail="up", provisioned="true", frozen_at=ZERO_TIME, overall=None):
    return {"avail": avail, "provisioned": provisioned, "frozen_at": frozen_at, "overall": overall or avail}


FAILOVER = {"topology": "failover", "orchestrate": "ha", "priority": 10, "scope": ["n1", "n2"]}
FLEX = {"topology": "flex", "flex": {"min": 2, "max": 3, "target": 2}, "scope": ["n1", "n2", "n3", "n4"]}


@pytest.mark.parametrize(
    ("config", "avails", "expected"),
    [
        (FAILOVER, [], "n/a"),
        (FAILOVER, ["n/a", "n/a"], "n/a"),
        (FAILOVER, ["up", "down"], "up"),
        (FAILOVER, ["up", "up"], "warn"),
        (FAILOVER, ["down", "down"], "down"),
        (FAILOVER, ["down", "warn"], "warn"),
        (FAILOVER, ["stdby up", "down"], "down"),
        (None, ["up"], "up"),
        (FLEX, ["up", "up", "down"], "up"),
        (FLEX, ["up", "down"], "down"),
        (FLEX, ["up", "up", "up", "up"], "warn"),
        (FLEX, ["up", "up", "warn"], "warn"),
        ({"topology": "flex", "flex": {"min": 0, "max": 2}}, ["down"], "down"),
    ],
)
def test_avail_rules(config, avails, expected):
    """avail follows the documented failover and flex rules."""
    instances = {f"n{i}": inst(a) for i, a in enumerate(avails)}
    status = aggregate(config, instances)
    assert status.avail == expected
    assert status.up_instances_count == avails.count("up")


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], "n/a"), (["true", "true"], "true"), (["false"], "false"), (["true", "false"], "mixed"),
     (["true", "n/a"], "true"), (["n/a"], "n/a")],
)
def test_provisioned_rules(values, expected):
    """provisioned is the common value of the instances, mixed when they differ."""
    status = aggregate(FAILOVER, {f"n{i}": inst(provisioned=v) for i, v in enumerate(values)})
    assert status.provisioned == expected


@pytest.mark.parametrize(
    ("frozen", "expected"),
    [([], "n/a"), ([True, True], "frozen"), ([False], "unfrozen"), ([True, False], "mixed")],
)
def test_frozen_rules(frozen, expected):
    """frozen is frozen/unfrozen/mixed over the instances' frozen_at."""
    status = aggregate(FAILOVER, {f"n{i}": inst(frozen_at=FROZEN if f else ZERO_TIME) for i, f in enumerate(frozen)})
    assert status.frozen == expected


def test_overall_and_config_fields():
    """overall is warn when an instance overall is warn; config fields are copied."""
    status = aggregate(FAILOVER, {"n1": inst("up", overall="warn"), "n2": inst("down")})
    assert status.avail == "up" and status.overall == "warn"
    assert (status.topology, status.orchestrate, status.priority, status.scope) == ("failover", "ha", 10, ["n1", "n2"])
    assert aggregate(FLEX, {"n1": inst()}).flex == {"min": 2, "max": 3, "target": 2}


def test_cluster_status_is_frozen_only_when_all_nodes_are():
    """is_frozen needs every known node frozen; is_compat needs one compat level."""
    assert cluster_status({"n1": {"frozen": True, "compat": 1}, "n2": {"frozen": True, "compat": 1}}).is_frozen
    mixed = cluster_status({"n1": {"frozen": True, "compat": 1}, "n2": {"frozen": False, "compat": 2}})
    assert not mixed.is_frozen and not mixed.is_compat
    assert not cluster_status({}).is_frozen


class FakePub:
    def __init__(self):
        self.events = []

    def publish(self, event, labels=None, **_):
        self.events.append((event.kind, labels, event))


def test_omon_publishes_changes_only_and_deletes_when_all_gone():
    """omon publishes on change, not on identical input, and deletes when no node has the object."""
    pub = FakePub()
    omon = Omon("n1", pub)
    omon.update(*omon.apply("InstanceConfigUpdated", {"path": "svc1", "node": "n1", "instance_config": FAILOVER}))
    omon.update(*omon.apply("InstanceStatusUpdated", {"path": "svc1", "node": "n1", "instance_status": inst()}))
    omon.update(*omon.apply("InstanceStatusUpdated", {"path": "svc1", "node": "n1", "instance_status": inst()}))
    kinds = [k for k, _, _ in pub.events]
    assert kinds == ["ObjectStatusUpdated", "ObjectStatusUpdated"]
    assert pub.events[-1][1] == {"namespace": "root", "path": "svc1", "node": "n1"}
    assert pub.events[-1][2].object_status.avail == "up"
    # A peer instance up too: failover with two up is warn.
    omon.update(*omon.apply("InstanceStatusUpdated", {"path": "svc1", "node": "n2", "instance_status": inst()}))
    assert pub.events[-1][2].object_status.avail == "warn"
    omon.update(*omon.apply("ForgetPeer", {"node": "n2"}))
    objects = [e for k, _, e in pub.events if k == "ObjectStatusUpdated"]
    assert objects[-1].object_status.avail == "up"
    # Config removed first: the last config keeps the topology, nothing changes.
    before = len(pub.events)
    omon.update(*omon.apply("InstanceConfigDeleted", {"path": "svc1", "node": "n1"}))
    assert len(pub.events) == before
    omon.update(*omon.apply("InstanceStatusDeleted", {"path": "svc1", "node": "n1"}))
    assert [k for k, _, _ in pub.events[before:]] == ["ObjectStatusDeleted", "ObjectStatusDone"]


def test_omon_cluster_status_follows_node_statuses():
    """ClusterStatusUpdated is published when the all-frozen aggregate changes, not otherwise."""
    pub = FakePub()
    omon = Omon("n1", pub)
    omon.update(*omon.apply("NodeStatusUpdated", {"node": "n1", "node_status": {"frozen_at": FROZEN, "compat": 1}}))
    assert pub.events[-1][2].cluster_status.is_frozen
    omon.update(*omon.apply("NodeStatusUpdated", {"node": "n2", "node_status": {"frozen_at": ZERO_TIME, "compat": 1}}))
    assert not pub.events[-1][2].cluster_status.is_frozen
    count = len(pub.events)
    omon.update(*omon.apply("NodeStatusUpdated", {"node": "n2", "node_status": {"frozen_at": ZERO_TIME, "compat": 1}}))
    assert len(pub.events) == count


def test_omon_snapshot_seeds_published_state():
    """After a rebuild from a snapshot, unchanged objects are not published again."""
    first = FakePub()
    a = Omon("n1", first)
    a.update(*a.apply("InstanceStatusUpdated", {"path": "svc1", "node": "n1", "instance_status": inst()}))
    import msgspec

    published = msgspec.to_builtins(first.events[-1][2])
    second = FakePub()
    b = Omon("n1", second)
    b.load_snapshot([
        ("InstanceStatusUpdated", {"node": "n1"}, {"path": "svc1", "node": "n1", "instance_status": inst()}),
        ("ObjectStatusUpdated", {"node": "n1", "path": "svc1", "namespace": "root"}, published),
    ])
    b.update_all()
    assert [k for k, _, _ in second.events] == ["ClusterStatusUpdated"]
