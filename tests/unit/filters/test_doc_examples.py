"""Every example filter of the user documentation (and of om3's reference) matches the events it
should and only those, in both implementations."""

from __future__ import annotations

import pytest

from omd.model import events as ev

from ._support import frames, instance_status, matcher

FROZEN = "2024-05-01T10:00:00.123456789Z"


def _mon(path: str, node: str) -> tuple[bytes, bytes]:
    return frames(ev.InstanceMonitorUpdated(labels={"namespace": "root", "node": node, "path": path},
                                            path=path, node=node, instance_monitor={"state": "idle"}))


def _ostat(path: str, avail: str = "up") -> tuple[bytes, bytes]:
    return frames(ev.ObjectStatusUpdated(labels={"namespace": "root", "path": path}, path=path,
                                         node="n1", object_status=ev.ObjectStatus(avail=avail)))


def _orch_end(path: str) -> tuple[bytes, bytes]:
    return frames(ev.ObjectOrchestrationEnd(labels={"namespace": "root", "path": path, "node": "n1"},
                                            id="x", node="n1", path=path, global_expect="started"))


def _nstat(node: str, frozen_at: str = ev.ZERO_TIME) -> tuple[bytes, bytes]:
    return frames(ev.NodeStatusUpdated(labels={"node": node}, node=node,
                                       node_status=ev.NodeStatus(frozen_at=frozen_at)))


def _cstat(frozen: bool) -> tuple[bytes, bytes]:
    return frames(ev.ClusterStatusUpdated(labels={"node": "n1"}, node="n1",
                                          cluster_status=ev.ClusterStatus(is_frozen=frozen)))


def _stats(mem_avail: int) -> tuple[bytes, bytes]:
    return frames(ev.NodeStatsUpdated(labels={"node": "n1"}, node="n1",
                                      node_stats=ev.NodeStats(mem_avail=mem_avail)))


CASES = [
    # node-events-doc.txt, "Example filters"
    ("path=svc1,node=n1",
     [instance_status("svc1", "n1"), _mon("svc1", "n1"), _orch_end("svc1")],
     [instance_status("svc1", "n2"), instance_status("svc2", "n1"), _ostat("svc1")]),
    ("InstanceStatusUpdated",
     [instance_status("svc1", "n1"), instance_status("svc2", "n2", avail="down")],
     [_ostat("svc1"), _mon("svc1", "n1")]),
    ("InstanceStatusUpdated,ObjectOrchestrationEnd",
     [instance_status(), _orch_end("svc9")],
     [_ostat("svc1"), _mon("svc1", "n1")]),
    ("InstanceStatusUpdated,path=svc1,ObjectOrchestrationEnd",
     [instance_status("svc1", "n2"), _orch_end("svc1")],
     [instance_status("svc2", "n1"), _orch_end("svc2"), _mon("svc1", "n1")]),
    ("InstanceStatusUpdated,path=svc1,node=n1",
     [instance_status("svc1", "n1")],
     [instance_status("svc1", "n2"), instance_status("svc2", "n1"), _mon("svc1", "n1")]),
    ('InstanceStatusUpdated,path=svc1,node=n1,.instance_status.frozen_at="0001-01-01T00:00:00Z"',
     [instance_status("svc1", "n1")],
     [instance_status("svc1", "n1", frozen_at=FROZEN), instance_status("svc1", "n2")]),
    # node-events-doc.txt, "Useful templates" and "Wait templates"
    ("InstanceMonitorUpdated", [_mon("foo", "dev1n1")], [instance_status("foo", "dev1n1")]),
    ("InstanceMonitorUpdated,path=foo", [_mon("foo", "dev1n2")], [_mon("foo2", "dev1n1")]),
    ("InstanceMonitorUpdated,node=dev1n1", [_mon("foo001", "dev1n1")], [_mon("foo001", "dev1n2")]),
    ("ObjectStatusUpdated,path=foo", [_ostat("foo")], [_ostat("foo1"), instance_status("foo")]),
    ("InstanceStatusUpdated,path=foo,node=dev1n1", [instance_status("foo", "dev1n1")],
     [instance_status("foo", "dev1n2")]),
    ("NodeStatusUpdated,node=dev1n1", [_nstat("dev1n1")], [_nstat("dev1n2")]),
    ("ClusterStatusUpdated", [_cstat(True), _cstat(False)], [_nstat("n1")]),
    ("ObjectStatusUpdated", [_ostat("a"), _ostat("b", "down")], [instance_status()]),
    # om3-events.md section 4.3 (data assertions)
    ('InstanceStatusUpdated,.instance_status.avail="up"', [instance_status(avail="up")],
     [instance_status(avail="down")]),
    ('.instance_status.resources."fs#1".status="up"', [instance_status()],
     [instance_status(resources={"fs#1": "down"}), instance_status(resources={"fs#2": "up"})]),
    (".node_stats.mem_avail<20", [_stats(19), _stats(0)], [_stats(20), _stats(4096), _nstat("n1")]),
    (".cluster_status.is_frozen=true", [_cstat(True)], [_cstat(False)]),
    ('.instance_status.frozen_at>"0001-01-01T00:00:00Z"', [instance_status(frozen_at=FROZEN)],
     [instance_status()]),
    ('.labels.node="n1"', [instance_status(node="n1"), _nstat("n1")], [_nstat("n2")]),
    # docs/filters.md examples
    ("ObjectStatusUpdated,path=web*,.object_status.avail!=up", [_ostat("web1", "down"), _ostat("web", "warn")],
     [_ostat("web1", "up"), _ostat("db1", "down"), instance_status("web1", avail="down")]),
    (("InstanceStatusUpdated,path=a,.instance_status.avail=up",
      "InstanceStatusUpdated,path=b,.instance_status.avail=down"),
     [instance_status("a", avail="up"), instance_status("b", avail="down")],
     [instance_status("a", avail="down"), instance_status("b", avail="up"), _ostat("a", "up")]),
]


@pytest.mark.parametrize(("expr", "hits", "misses"), CASES,
                         ids=[c[0] if isinstance(c[0], str) else " | ".join(c[0]) for c in CASES])
def test_doc_example(impl, expr, hits, misses):
    """A documented example filter matches its events and rejects the others."""
    m = matcher(impl, *([expr] if isinstance(expr, str) else expr))
    assert [m.match(*e) for e in hits] == [True] * len(hits)
    assert [m.match(*e) for e in misses] == [False] * len(misses)
