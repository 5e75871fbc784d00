"""kill -9 of each event source: the restarted process resumes with correct state."""

from __future__ import annotations

import os
import signal

from omd import frozen
from tests.helpers import wait_for
from tests.integration.test_sources_objects import BASE, bus, expect, post  # noqa: F401  (bus: fixture)


def kill9(daemon, name):
    """kill -9 a subsystem; returns once the supervisor has restarted it (new pid running)."""
    old = daemon.subsystem_pid(name)
    os.kill(old, signal.SIGKILL)
    return old


def wait_restarted(daemon, name, old):
    """Wait for the supervisor to run `name` again under a new pid."""
    wait_for(lambda: daemon.status()["subsystems"][name]["pid"] not in (0, old), timeout=15,
             what=f"{name} restart")


def test_discover_restart_publishes_what_changed_while_down(daemon_factory, bus):
    """Files changed while discover was dead are published after its restart; no second ObjectCreated."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b""])
    (d.paths.etc / "a.conf").write_text("")
    (d.paths.etc / "b.conf").write_text("")
    expect(sub, "InstanceConfigUpdated", lambda data, _: data["path"] == "b")
    expect(sub, "InstanceConfigUpdated", lambda data, _: data["path"] == "a")
    # discover saves what it published right after publishing (a kill in between republishes:
    # at least once); kill it once both objects are saved.
    state = d.paths.lib / "discover" / "state.json"
    wait_for(lambda: state.exists() and '"a"' in state.read_text() and '"b"' in state.read_text(),
             what="discover state saved")
    old = kill9(d, "discover")
    mark = sub.mark()
    (d.paths.etc / "b.conf").unlink()
    (d.paths.etc / "a.conf").write_text("[DEFAULT]\npriority = 7\n")
    wait_restarted(d, "discover", old)
    expect(sub, "ObjectDeleted", lambda data, _: data["path"] == "b", since=mark, timeout=15)
    data, _ = expect(sub, "InstanceConfigUpdated", lambda data, _: data["path"] == "a", since=mark,
                     forbid=("ObjectCreated",))
    assert data["instance_config"]["priority"] == 7


def test_istat_restart_keeps_statuses(daemon_factory, bus):
    """A restarted istat keeps the posted status: a later freeze republishes it with the same avail."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"InstanceStatusUpdated\0", b"InstanceStatusDeleted\0"])
    (d.paths.etc / "foo.conf").write_text("")
    post(bus.pub(d), "foo", avail="up", overall="up", provisioned="true", resources={"fs#1": {"status": "up"}})
    expect(sub, "InstanceStatusUpdated")
    old = kill9(d, "istat")
    wait_restarted(d, "istat", old)
    mark = sub.mark()
    at = frozen.freeze_instance(d.paths, "foo")
    data, _ = expect(sub, "InstanceStatusUpdated", since=mark, forbid=("InstanceStatusDeleted",))
    status = data["instance_status"]
    assert status["frozen_at"] == at and status["avail"] == "up" and status["resources"]["fs#1"]["status"] == "up"


def test_omon_restart_catches_up(daemon_factory, bus):
    """A status change while omon was dead is reflected once it is back (state rebuilt, not lost)."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"ObjectStatusUpdated\0", b"InstanceStatusUpdated\0"])
    (d.paths.etc / "foo.conf").write_text("")
    pub = bus.pub(d)
    post(pub, "foo", avail="up", overall="up", provisioned="true")
    expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "up")
    old = kill9(d, "omon")
    mark = sub.mark()
    post(pub, "foo", avail="down", overall="down", provisioned="true")
    expect(sub, "InstanceStatusUpdated", lambda data, _: data["instance_status"]["avail"] == "down", since=mark)
    wait_restarted(d, "omon", old)
    data, labels = expect(sub, "ObjectStatusUpdated", lambda data, _: data["object_status"]["avail"] == "down",
                          since=mark, timeout=15)
    assert labels == {"namespace": "root", "path": "foo", "node": "n1"}


def test_nmon_restart_reads_frozen_flag(daemon_factory, bus):
    """A node frozen while nmon was dead is in the NodeStatusUpdated of the restarted nmon."""
    d = daemon_factory(BASE)
    sub = bus.sub(d, [b"NodeStatusUpdated\0", b"NodeMonitorUpdated\0"])
    old = kill9(d, "nmon")
    mark = sub.mark()
    at = frozen.freeze_node(d.paths)
    wait_restarted(d, "nmon", old)
    expect(sub, "NodeMonitorUpdated", lambda data, _: data["node_monitor"]["state"] == "idle", since=mark, timeout=15)
    expect(sub, "NodeStatusUpdated", lambda data, _: data["node_status"]["frozen_at"] == at, since=mark)


def test_scheduler_restart_runs_jobs_again(daemon_factory, bus):
    """A restarted scheduler reports itself running and runs its jobs again."""
    d = daemon_factory(BASE + '[scheduler]\njobs = [{name = "tick", command = ["true"], interval = 0.3}]\n')
    sub = bus.sub(d, [b"DaemonSchedulerUpdated\0", b"ExecSuccess\0"])
    expect(sub, "ExecSuccess")
    old = kill9(d, "scheduler")
    mark = sub.mark()
    wait_restarted(d, "scheduler", old)
    data, labels = expect(sub, "DaemonSchedulerUpdated", since=mark, timeout=15)
    assert data["scheduler"]["state"] == "running" and data["scheduler"]["count"] == 1 and labels == {"node": "n1"}
    expect(sub, "ExecSuccess", since=mark)
