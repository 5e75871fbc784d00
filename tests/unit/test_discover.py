"""The discover scan: what it publishes for config file and frozen flag changes (omd.subsystems.discover)."""

from __future__ import annotations

import os

import pytest

from omd import frozen
from omd.subsystems.discover import Discover
from omd.model.events import ZERO_TIME
from omd.paths import Paths


@pytest.fixture
def paths(tmp_path):
    p = Paths.resolve(tmp_path)
    p.make_dirs()
    return p


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, event, labels):
        self.events.append((event.kind, labels, event))

    def take(self):
        out, self.events = self.events, []
        return out

    def kinds(self):
        return [k for k, _, _ in self.take()]


def write(file, text):
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    # Distinct mtimes even on coarse-grained file systems.
    st = file.stat()
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_new_changed_bad_and_removed_config(paths):
    """Create, change, break and remove a config: the documented events, last good config kept."""
    rec = Recorder()
    disc = Discover(paths, "n1", rec)
    file = paths.etc / "svc1.conf"
    write(file, "[DEFAULT]\nnodes = n1\n[fs#1]\n")
    disc.scan()
    events = rec.take()
    assert [k for k, _, _ in events] == ["ConfigFileUpdated", "ObjectCreated", "InstanceConfigUpdated"]
    assert events[0][1] == {"namespace": "root", "path": "svc1"}
    assert events[2][1] == {"namespace": "root", "path": "svc1", "node": "n1"}
    assert list(events[2][2].instance_config["resources"]) == ["fs#1"]
    disc.scan()
    assert rec.take() == []
    write(file, "[DEFAULT]\nnodes = n1\n[fs#1]\n[app#1]\n")
    disc.scan()
    events = rec.take()
    assert [k for k, _, _ in events] == ["ConfigFileUpdated", "InstanceConfigUpdated"]
    good = events[1][2].instance_config
    write(file, "[DEFAULT]\ntopology = nope\n")
    disc.scan()
    assert rec.kinds() == ["ConfigFileUpdated"]
    assert disc.objects["svc1"]["instance_config"] == good
    file.unlink()
    disc.scan()
    assert rec.kinds() == ["ConfigFileRemoved", "InstanceConfigDeleted", "InstanceConfigManagerDone", "ObjectDeleted"]


def test_touch_without_change_publishes_nothing(paths):
    """A file whose mtime changes but whose contents do not produces no event."""
    rec = Recorder()
    disc = Discover(paths, "n1", rec)
    file = paths.etc / "namespaces" / "ns1" / "svc" / "foo.conf"
    write(file, "")
    disc.scan()
    assert rec.kinds() == ["ConfigFileUpdated", "ObjectCreated", "InstanceConfigUpdated"]
    write(file, "")
    disc.scan()
    assert rec.take() == []


def test_object_not_scoped_here_has_no_instance_config(paths):
    """An object whose nodes exclude this node exists but has no local instance config."""
    rec = Recorder()
    disc = Discover(paths, "n1", rec)
    write(paths.etc / "svc1.conf", "[DEFAULT]\nnodes = n2\n")
    disc.scan()
    assert rec.kinds() == ["ConfigFileUpdated", "ObjectCreated"]


def test_restart_resumes_from_saved_state(paths):
    """A new Discover on the same root republishes current state but no second ObjectCreated,
    and publishes the removals that happened while it was down."""
    rec = Recorder()
    Discover(paths, "n1", rec).scan(initial=True)
    write(paths.etc / "a.conf", "")
    write(paths.etc / "b.conf", "")
    frozen.freeze_node(paths)
    Discover(paths, "n1", rec).scan()
    rec.take()
    (paths.etc / "b.conf").unlink()
    again = Discover(paths, "n1", rec)
    again.scan(initial=True)
    kinds = rec.kinds()
    assert "ObjectCreated" not in kinds
    assert kinds.count("InstanceConfigUpdated") == 1
    assert {"ConfigFileRemoved", "ObjectDeleted", "NodeFrozenFileUpdated"} <= set(kinds)


def test_frozen_flags(paths):
    """Node and instance flags give NodeFrozenFile* and InstanceFrozenFile* events with the file mtime."""
    rec = Recorder()
    disc = Discover(paths, "n1", rec)
    at = frozen.freeze_node(paths)
    iat = frozen.freeze_instance(paths, "ns1/svc/foo")
    disc.scan()
    events = {k: (labels, e) for k, labels, e in rec.take()}
    assert events["NodeFrozenFileUpdated"][1].at == at
    assert events["NodeFrozenFileUpdated"][0] == {"node": "n1"}
    labels, event = events["InstanceFrozenFileUpdated"]
    assert labels == {"namespace": "ns1", "path": "ns1/svc/foo", "node": "n1"}
    assert event.at == iat and event.file.endswith("var/lib/omd/namespaces/ns1/svc/foo/frozen")
    frozen.unfreeze_node(paths)
    frozen.unfreeze_instance(paths, "ns1/svc/foo")
    disc.scan()
    assert sorted(rec.kinds()) == ["InstanceFrozenFileRemoved", "NodeFrozenFileRemoved"]
    assert disc.node_frozen == ZERO_TIME


def test_inotify_failure_falls_back_to_polling(paths, monkeypatch):
    """When inotify cannot be set up (watch limit), the auto watcher polls instead."""
    import watchdog.observers

    from omd import config as configmod
    from omd.subsystems.discover import _start_observer

    class Broken(watchdog.observers.Observer):
        def schedule(self, *args, **kwargs):
            raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(watchdog.observers, "Observer", Broken)
    observer = _start_observer(paths, configmod.parse('[discover]\nwatcher = "auto"\n'), lambda: None)
    try:
        assert type(observer).__name__ == "PollingObserver"
    finally:
        observer.stop()
        observer.join(5)
