"""The zygote: subsystems forked from one preloaded interpreter, children of the supervisor."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.helpers import wait_for


def _log_events(daemon, event: str) -> list[dict]:
    found = []
    for line in daemon.log().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("event") == event:
            found.append(doc)
    return found


def _stat(pid: int) -> tuple[str, int]:
    """(state, ppid) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _zygote_pid(daemon) -> int:
    started = _log_events(daemon, "zygote_started")
    assert started, daemon.log()[-2000:]
    return started[-1]["zygote_pid"]


def test_subsystems_are_forked_children_of_the_supervisor_named_by_comm(daemon):
    """Every subsystem but the bus (which starts while the zygote imports) is forked, is a
    direct child of the supervisor, in its own process group, and says its name in comm."""
    status = daemon.status()
    supervisor = status["pid"]
    forked = {e["name"]: e["forked"] for e in _log_events(daemon, "subsystem_started")}
    assert all(forked[name] for name in forked if name != "bus"), forked
    for name, sub in status["subsystems"].items():
        pid = sub["pid"]
        state, ppid = _stat(pid)
        assert ppid == supervisor, (name, ppid, supervisor)
        assert os.getpgid(pid) == pid, name
        if forked[name]:
            assert Path(f"/proc/{pid}/comm").read_text().strip() == f"omd-{name}"[:15]
    # A forked child starts with no descriptor of the zygote's but its own three and the
    # readiness pipe (the config memfd is read and closed at start).
    gateway = status["subsystems"]["gateway"]["pid"]
    zygote = _zygote_pid(daemon)
    zygote_socket = {os.readlink(f"/proc/{zygote}/fd/{fd}") for fd in os.listdir(f"/proc/{zygote}/fd")}
    child_fds = {os.readlink(f"/proc/{gateway}/fd/{fd}") for fd in os.listdir(f"/proc/{gateway}/fd")}
    assert not {t for t in zygote_socket if t.startswith("socket:")} & child_fds


def test_kill_9_of_the_zygote_stops_no_subsystem_and_restarts_still_work(daemon):
    """The zygote's death kills nothing (the subsystems are the supervisor's), and a subsystem
    that dies afterwards is restarted (as a fresh interpreter until a zygote is back)."""
    before = {name: sub["pid"] for name, sub in daemon.status()["subsystems"].items()}
    zygote = _zygote_pid(daemon)
    os.kill(zygote, signal.SIGKILL)
    wait_for(lambda: (_stat_or_none(zygote) or ("Z", 0))[0] == "Z", timeout=10, what="zygote gone")
    os.kill(before["nmon"], signal.SIGKILL)
    wait_for(lambda: (daemon.status()["subsystems"]["nmon"]["pid"] not in (0, before["nmon"])
                      and daemon.status()["subsystems"]["nmon"]["state"] == "running"),
             timeout=60, what="nmon restarted")
    after = {name: sub["pid"] for name, sub in daemon.status()["subsystems"].items()}
    assert {n: p for n, p in after.items() if n != "nmon"} == {n: p for n, p in before.items() if n != "nmon"}
    # the dead zygote was reaped: no zombie child of the supervisor is left
    supervisor = daemon.status()["pid"]
    wait_for(lambda: not [p for p in os.listdir("/proc") if p.isdigit() and _is_zombie_child(int(p), supervisor)],
             timeout=10, what="no zombie children")
    assert daemon.stop() == 0


def _is_zombie_child(pid: int, parent: int) -> bool:
    return _stat_or_none(pid) == ("Z", parent)


def test_an_orphaned_descendant_is_reaped_by_the_supervisor(daemon_factory, tmp_path):
    """The supervisor is a subreaper: a process a subsystem leaves behind (here a scheduler
    job's background child, which outlives the job) is re-parented to it and waited for,
    never left a zombie."""
    marker = tmp_path / "orphans"
    job = f"sleep 0.5 & echo $! >> {marker}"
    d = daemon_factory("[daemon]\nwatchdog_interval = 0.5\n[scheduler]\njobs = [\n"
                       f"  {{name = \"leaver\", command = [\"sh\", \"-c\", \"{job}\"], interval = 0.3}},\n]\n")
    supervisor = d.status()["pid"]
    wait_for(lambda: marker.exists() and len(marker.read_text().split()) >= 3, timeout=30,
             what="three runs of the job")
    orphans = [int(p) for p in marker.read_text().split()[:3]]
    for pid in orphans:  # each one, once its sleep ended, is gone: not a zombie of ours
        wait_for(lambda pid=pid: _parent_or_none(pid) != supervisor, timeout=10, what=f"orphan {pid} reaped")
    assert any(e["event"] == "orphan_reaped" for e in map(_json, d.log().splitlines()) if e)


def _stat_or_none(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of `pid`, None once it is gone (reaped)."""
    try:
        return _stat(pid)
    except (OSError, IndexError):
        return None


def _parent_or_none(pid: int) -> int | None:
    """The parent of `pid`, None once it is gone (reaped)."""
    found = _stat_or_none(pid)
    return found[1] if found else None


def _json(line: str) -> dict:
    try:
        doc = json.loads(line)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def test_zygote_false_runs_fresh_interpreters(daemon_factory):
    d = daemon_factory("[daemon]\nwatchdog_interval = 0.5\nzygote = false\n")
    assert not _log_events(d, "zygote_started")
    for name, sub in d.status()["subsystems"].items():
        cmdline = Path(f"/proc/{sub['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"omd.daemon.runner" in cmdline and name.encode() in cmdline
