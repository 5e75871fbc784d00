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
