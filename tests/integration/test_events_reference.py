"""docs/events.md against the code and a live daemon: every kind our sources publish is seen,
with the labels the table lists."""

from __future__ import annotations

import os
import re
import signal
import time

import msgspec

from omd.model import events
from omd import frozen
from tests.helpers import REPO
from tests.integration.test_sources_objects import BASE, bus, expect, post  # noqa: F401  (bus: fixture)

SOURCES = {"nmon", "discover", "istat", "omon", "scheduler"}
COLUMNS = ["Kind", "Published by", "API role", "Labels", "Data fields", "Replay", "Forwarded", "Peer", "Notes"]


def reference_table():
    """The rows of the kinds table of docs/events.md, as dicts keyed by column name."""
    lines = (REPO / "docs" / "events.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Kind |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    assert header == COLUMNS
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append(dict(zip(COLUMNS, cells)))
    return rows


def names(cell):
    """The backquoted names of a cell (`none` is the empty set)."""
    return set(re.findall(r"`([^`]+)`", cell))


def publishers(cell):
    """The publishers a "Published by" cell names: backquoted names, "every process" or "not published"."""
    if cell == "every process":
        return events.EVERY_PROCESS
    if cell == "not published":
        return frozenset()
    found = frozenset(names(cell))
    assert found, f"a Published by cell names its publishers: {cell!r}"
    return found


def replay(info):
    """The Replay cell of a kind: its rank in upstream's order, on request, or N."""
    if info.replay_rank is not None:
        return f"Y ({info.replay_rank})"
    return "on request" if info.replay_on_request else "N"


def test_table_lists_every_kind_once_with_kinds_facts():
    """The table has one row per kind of omd.model.events.KINDS, agreeing with every fact the kind declares."""
    rows = reference_table()
    kinds = [row["Kind"] for row in rows]
    assert sorted(kinds) == sorted(events.KINDS) and len(kinds) == len(set(kinds))
    for row in rows:
        info = events.KINDS[row["Kind"]]
        fields = {f.encode_name for f in msgspec.structs.fields(info.type) if f.name != "labels"}
        assert names(row["Data fields"]) == fields, row["Kind"]
        assert row["Replay"] == replay(info), row["Kind"]
        assert row["Forwarded"] == ("Y" if info.forwarded else "N"), row["Kind"]
        assert row["Peer"] == ("Y" if info.peer else "N"), row["Kind"]
        assert row["API role"] == (info.api or "never"), row["Kind"]
        assert publishers(row["Published by"]) == info.publishers, row["Kind"]
    ranked = sorted((int(row["Replay"][3:-1]), row["Kind"]) for row in rows if row["Replay"].startswith("Y ("))
    assert tuple(kind for _, kind in ranked) == events.REPLAY_ORDER


JOBS = '[scheduler]\njobs = [{name = "ok", command = ["true"], interval = 0.3}, ' \
       '{name = "ko", command = ["false"], interval = 0.3}]\n'


def test_every_source_kind_is_published_with_its_labels(daemon_factory, bus):
    """A scripted scenario makes every kind of our sources appear on the bus, each with the listed labels."""
    expected = {}
    for row in reference_table():
        publishers = names(row["Published by"])
        if len(publishers) == 1 and publishers <= SOURCES:
            expected[row["Kind"]] = names(row["Labels"])
    assert len(expected) >= 28
    d = daemon_factory(BASE + JOBS)
    sub = bus.sub(d, [b""])
    pub = bus.pub(d)
    (d.paths.etc / "svc1.conf").write_text("[DEFAULT]\nnodes = n1\n[fs#1]\n")
    foo = d.paths.etc / "namespaces" / "ns1" / "svc" / "foo.conf"
    foo.parent.mkdir(parents=True)
    foo.write_text("[DEFAULT]\ntopology = flex\n")
    expect(sub, "InstanceConfigUpdated", lambda data, _: data["path"] == "ns1/svc/foo")
    post(pub, "svc1", avail="up", overall="up", provisioned="true", resources={"fs#1": {"status": "up"}})
    post(pub, "ns1/svc/foo", avail="up", overall="up", provisioned="true")
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["path"] == "ns1/svc/foo"
           and data["object_status"]["avail"] == "up")
    frozen.freeze_node(d.paths)
    frozen.freeze_instance(d.paths, "svc1")
    expect(sub, "ClusterStatusUpdated", lambda data, _: data["cluster_status"]["is_frozen"])
    expect(sub, "InstanceFrozenFileUpdated")
    frozen.unfreeze_node(d.paths)
    frozen.unfreeze_instance(d.paths, "svc1")
    expect(sub, "NodeFrozenFileRemoved")
    expect(sub, "InstanceFrozenFileRemoved")
    for name in ("nmon", "scheduler"):  # at-stop and at-start kinds
        os.kill(d.subsystem_pid(name), signal.SIGTERM)
    (d.paths.etc / "svc1.conf").unlink()
    expect(sub, "ObjectStatusDone")
    deadline = time.monotonic() + 20
    while not set(expected) <= {m.kind for m in sub.history}:
        missing = set(expected) - {m.kind for m in sub.history}
        assert time.monotonic() < deadline, f"never published: {sorted(missing)}"
        msg = sub.sub.recv(timeout=0.5)
        if msg is not None:
            sub.history.append(msg)
    for msg in sub.history:
        if msg.kind in expected:
            assert set(msg.labels) == expected[msg.kind], (msg.kind, msg.labels)
            assert msg.data_obj()["labels"] == msg.labels
