"""Scheduler jobs on a live daemon: Exec, ExecSuccess, ExecFailed and timeouts."""

from __future__ import annotations

from tests.integration.test_sources_objects import BASE, bus, expect  # noqa: F401  (bus: fixture)

JOBS = BASE + """[scheduler]
jobs = [
  {name = "ok", command = ["true"], interval = 0.3},
  {name = "ko", command = ["sh", "-c", "echo first >&2; echo boom >&2; exit 3"], interval = 0.3},
  {name = "slow", command = ["sleep", "30"], interval = 0.3, timeout = 0.3},
  {name = "missing", command = ["/nonexistent/omd-job"], interval = 0.3},
]
"""


def test_jobs_publish_exec_then_success_or_failure(daemon_factory, bus):
    """Each run publishes Exec then ExecSuccess/ExecFailed with the same ids, a duration and the error text."""
    d = daemon_factory(JOBS)
    sub = bus.sub(d, [b"Exec"])
    labels_seen = set()
    results = {}
    for title in ("ok", "ko", "slow", "missing"):
        start, labels = expect(sub, "Exec", lambda data, _, t=title: data["title"] == t)
        labels_seen.add(tuple(sorted(labels.items())))
        kind = "ExecSuccess" if title == "ok" else "ExecFailed"
        end, labels = expect(sub, kind, lambda data, _, s=start: data["exec_id"] == s["exec_id"])
        labels_seen.add(tuple(sorted(labels.items())))
        assert end["session_id"] == start["session_id"] and end["command"] == start["command"]
        assert end["origin"] == "scheduler" and end["node"] == "n1" and end["duration"] > 0
        results[title] = end
    assert labels_seen == {(("node", "n1"), ("origin", "scheduler"))}
    assert "error" not in results["ok"]
    assert results["ko"]["error"] == "exit code 3: first\nboom"
    assert results["ko"]["command"] == "sh -c 'echo first >&2; echo boom >&2; exit 3'"
    assert results["slow"]["error"] == "timeout after 0.3s (killed)"
    assert 0.3e9 <= results["slow"]["duration"] < 5e9
    assert results["missing"]["error"].startswith("cannot run: ")


def test_kill_9_of_the_scheduler_leaves_no_job_behind_and_no_overlap(daemon_factory, bus, tmp_path):
    """A long run when the scheduler is killed -9: its process dies with the scheduler
    (PR_SET_PDEATHSIG), what it started in its group is killed by the restarted scheduler from
    its run records, which reports the run failed; the job then runs again, never two at once."""
    import os
    import signal

    from tests.helpers import wait_for

    marker = tmp_path / "runs"
    # each run appends its shell's pid, starts a child in its group, and waits for it
    script = f"echo $$ >> {marker}; sleep 30 & wait"
    config = BASE + f"""[scheduler]
jobs = [
  {{name = "long", command = ["sh", "-c", "{script}"], interval = 0.3}},
]
"""
    d = daemon_factory(config)
    sub = bus.sub(d, [b"Exec"])
    start, _ = expect(sub, "Exec", lambda data, _: data["title"] == "long", timeout=20)
    wait_for(lambda: marker.exists() and marker.read_text().split(), timeout=10, what="the run's pid")
    first = int(marker.read_text().split()[0])
    members = [int(p) for p in os.listdir("/proc") if p.isdigit() and _pgrp(int(p)) == first]
    assert len(members) >= 2, members  # the shell and its sleep
    scheduler = d.subsystem_pid("scheduler")
    os.kill(scheduler, signal.SIGKILL)
    failed, _ = expect(sub, "ExecFailed", lambda data, _: data["exec_id"] == start["exec_id"], timeout=30)
    assert failed["error"] == "interrupted: the scheduler died during the run"
    wait_for(lambda: not [p for p in members if _alive(p)], timeout=10, what="the old run's processes gone")
    # the next run starts only after the old one is gone: its group is never alive at once with it
    wait_for(lambda: len(marker.read_text().split()) >= 2, timeout=20, what="the next run")
    assert not _alive(first)


def _pgrp(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
