"""istat's validation, frozen_at merge, persistence and resume (omd.subsystems.istat)."""

from __future__ import annotations

import msgspec

from omd import frozen
from omd.model.events import ZERO_TIME, InstanceStatusPost, from_builtins
from omd.subsystems.istat import Istat
from omd.paths import Paths
from omd.model.wire import Message, Meta, encode_data


class FakePub:
    def __init__(self):
        self.events = []

    def publish(self, event, labels=None, **_):
        self.events.append((event.kind, labels, msgspec.to_builtins(event)))


def message(kind, labels, event):
    event.labels = labels
    return Message(kind=kind, labels=labels, meta=Meta(at="", origin="n1", pub="t", seq=1), data=encode_data(event))


def post(path, node="n1", **status):
    event = from_builtins("InstanceStatusPost", {"path": path, "node": node, "instance_status": status})
    assert isinstance(event, InstanceStatusPost)
    return message("InstanceStatusPost", {"path": path, "node": node, "namespace": "root", "origin": "api"}, event)


def test_post_is_validated_merged_and_saved(tmp_path):
    """A valid post is published with the flag's frozen_at and saved; bad ones are refused."""
    paths = Paths.resolve(tmp_path)
    at = frozen.freeze_instance(paths, "svc1")
    pub = FakePub()
    istat = Istat(paths, "n1", pub)
    istat.on_post(post("svc1", node="n2", avail="up"))
    istat.on_post(post("svc1", avail="sideways"))
    istat.on_post(post("Bad_Path", avail="up"))
    istat.on_post(post("svc1", provisioned="maybe"))
    assert pub.events == []
    istat.on_post(post("svc1", avail="up", frozen_at="2020-01-01T00:00:00Z", resources={"fs#1": {"status": "up"}}))
    kind, labels, data = pub.events[-1]
    assert kind == "InstanceStatusUpdated" and labels == {"namespace": "root", "path": "svc1", "node": "n1"}
    assert data["instance_status"]["frozen_at"] == at
    assert data["instance_status"]["updated_at"] != ZERO_TIME
    assert Istat(paths, "n1", FakePub()).statuses["svc1"]["status"]["avail"] == "up"


def test_resume_publishes_only_what_changed(tmp_path):
    """After a restart, only a changed frozen flag or a vanished config gives events."""
    paths = Paths.resolve(tmp_path)
    (paths.etc).mkdir(parents=True)
    (paths.etc / "a.conf").write_text("")
    (paths.etc / "b.conf").write_text("")
    istat = Istat(paths, "n1", FakePub())
    for path in ("a", "b", "c"):
        istat.on_post(post(path, avail="up"))
    pub = FakePub()
    Istat(paths, "n1", pub).resume()
    assert pub.events == []
    (paths.etc / "b.conf").unlink()
    at = frozen.freeze_instance(paths, "a")
    pub = FakePub()
    again = Istat(paths, "n1", pub)
    again.resume()
    got = {(kind, data["path"]) for kind, _, data in pub.events}
    assert got == {("InstanceStatusUpdated", "a"), ("InstanceStatusDeleted", "b")}
    assert again.statuses["a"]["status"]["frozen_at"] == at and "b" not in again.statuses
    # "c" was posted without a config file: it is kept.
    assert "c" in again.statuses


def test_one_file_per_object_and_the_old_file_is_migrated(tmp_path):
    """A post writes only its object's file (not every status again), so its cost does not grow
    with the number of objects; a former single status.json is loaded and migrated."""
    import json
    import time

    paths = Paths.resolve(tmp_path)
    old = paths.lib / "istat" / "status.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({f"ns1/svc/s{i}": {"status": {"avail": "up", "encap": {"c": {"x": "y" * 2000}}},
                                                 "had_config": False} for i in range(2000)}))
    istat = Istat(paths, "n1", FakePub())
    assert len(istat.statuses) == 2000 and not old.exists()
    assert (paths.lib / "istat" / "objects" / "ns1+svc+s7.json").exists()
    t0 = time.perf_counter()
    for _ in range(20):
        istat.on_post(post("svc1", avail="up"))
    per_post = (time.perf_counter() - t0) / 20
    files = list((paths.lib / "istat" / "objects").glob("*.json"))
    assert len(files) == 2001 and all(f.stat().st_size < 10_000 for f in files)
    again = Istat(paths, "n1", FakePub())
    assert again.statuses["svc1"]["status"]["avail"] == "up" and len(again.statuses) == 2001
    assert per_post < 0.05, per_post  # rewriting all 2000 statuses (~4 MB) each time took far longer
