"""The replayed state is complete once the daemon says started, and current after a journal restart."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from tests.helpers import Daemon, api_client, cleanup_root, short_root, wait_for

# What every fresh node's replay must hold: one event of each source's state.
SOURCE_STATE = ("NodeStatusUpdated", "NodeMonitorUpdated", "NodeConfigUpdated", "NodeOsPathsUpdated",
                "DaemonSchedulerUpdated", "DaemonListenerUpdated")


def _api(daemon: Daemon) -> httpx.Client:
    return api_client(daemon, timeout=15)


def replay(daemon: Daemon, *filters: str) -> list[tuple[str, str]]:
    """The replayed events (kind, data line) of a stream that ends after one second."""
    params = [("replay", "true"), ("duration", "1s"), *(("filter", f) for f in filters)]
    out, kind = [], ""
    with _api(daemon) as api, api.stream("GET", "/api/node/name/_/daemon/event", params=params) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                out.append((kind, line[6:]))
                kind = ""
    return out


def _fresh_daemons_hold_source_state(runs: int) -> None:
    for run in range(runs):
        root = short_root()
        d = Daemon(root, '[node]\nname = "n1"\n[daemon]\nwatchdog_interval = 0.5\n')
        try:
            d.start()  # returns once status.json says started
            kinds = {kind for kind, _ in replay(d)}
            missing = [k for k in SOURCE_STATE if k not in kinds]
            assert not missing, f"run {run}: replay right after start lacks {missing}"
        finally:
            d.stop()
            cleanup_root(root)


def test_fresh_daemon_replay_holds_every_source_state():
    """Three fresh daemons in a row: right after `started`, the replay holds each source's state."""
    _fresh_daemons_hold_source_state(3)


@pytest.mark.slow
@pytest.mark.timeout(900)  # twenty starts and stops: past the suite's 120 s per test
def test_twenty_fresh_daemons_replay_holds_every_source_state():
    """Twenty fresh daemons in a row: right after `started`, the replay holds each source's state."""
    _fresh_daemons_hold_source_state(20)


def test_journal_restart_then_freeze_gives_a_replay_that_says_frozen(daemon):
    """kill -9 of the journal, then a node freeze while it restarts: the replay soon says frozen."""
    os.kill(daemon.subsystem_pid("journal"), signal.SIGKILL)
    with _api(daemon) as api:
        r = api.post("/api/node/name/_/action/freeze")
        assert r.status_code == 200, r.text
        frozen_at = r.json()["frozen_at"]

    def replay_says_frozen() -> bool:
        try:
            events = replay(daemon, "NodeStatusUpdated")
        except (httpx.HTTPError, AssertionError):
            return False  # the journal is still restarting
        return any(f'"frozen_at":"{frozen_at}"' in data for kind, data in events)

    wait_for(replay_says_frozen, timeout=15, interval=0.2, what="a replay that says frozen")


def test_journal_restart_forgets_state_nobody_republished(daemon):
    """A journal restarted while an instance status was deleted serves no stale status for it."""
    with _api(daemon) as api:
        (daemon.paths.etc / "svc1.conf").write_text("")
        wait_for(lambda: api.post("/api/instance/status", json={
            "path": "svc1", "instance_status": {"avail": "up", "overall": "up"}}).status_code == 200,
            what="status posted")
    wait_for(lambda: any('"path":"svc1"' in d for _, d in replay(daemon, "InstanceStatusUpdated")),
             what="status journaled")
    journal_pid = daemon.subsystem_pid("journal")
    os.kill(journal_pid, signal.SIGSTOP)
    try:
        # While the journal cannot read, the object goes away: istat publishes the deletion,
        # which the stopped journal will not see once we kill it.
        (daemon.paths.etc / "svc1.conf").unlink()
        wait_for(lambda: not (daemon.paths.lib / "istat" / "objects" / "svc1.json").exists(),
                 what="istat dropped svc1")
    finally:
        os.kill(journal_pid, signal.SIGKILL)
        os.kill(journal_pid, signal.SIGCONT)

    def stale_gone() -> bool:
        try:
            return not any('"path":"svc1"' in d for _, d in replay(daemon, "InstanceStatusUpdated"))
        except (httpx.HTTPError, AssertionError):
            return False
    wait_for(stale_gone, timeout=15, interval=0.2, what="the stale status dropped from the replay")
