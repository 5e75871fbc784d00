"""The fault runs (slow): kill -9 and SIGSTOP of each subsystem, and a full disk, under a load
of 500 API posts/s read by 20 resuming SSE clients. Every acknowledged event is delivered to
every client or covered by a gap it was told about: lost is 0 (tests/faults/harness.py).

`OMD_FAULTS_REPORT=FILE` appends each run's verdict line to FILE (docs/reliability.md has
the figures and the command).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.faults import harness
from tests.helpers import Daemon, cleanup_root, short_root, wait_for

pytestmark = pytest.mark.slow

SUBSYSTEMS = ["bus", "journal", "gateway", "nmon", "istat", "omon", "discover", "scheduler"]
CONFIG = "[node]\nname = \"n1\"\n[daemon]\nwatchdog_interval = 0.5\n"
RATE = float(os.environ.get("OMD_FAULTS_RATE", "500"))
CLIENTS = int(os.environ.get("OMD_FAULTS_CLIENTS", "20"))


def _report(verdict: harness.Verdict) -> None:
    print(verdict.line())
    path = os.environ.get("OMD_FAULTS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(verdict.line() + "\n")


def _healthy(d: Daemon) -> bool:
    status = d.status()
    subs = status.get("subsystems", {})
    return status.get("status") == "started" and bool(subs) and all(
        s["state"] == "running" and not s.get("degraded") for s in subs.values())


def _check(verdict: harness.Verdict) -> None:
    _report(verdict)
    assert verdict.acked > 0, verdict.line()
    assert verdict.lost == 0, f"{verdict.line()}; lost (client, id): {verdict.lost_examples}"
    assert verdict.duplicates == 0 and verdict.order_errors == 0, verdict.line()
    assert not verdict.other_statuses, f"statuses other than 200/503: {verdict.other_statuses[:10]}"


@pytest.fixture(scope="module")
def node() -> Iterator[Daemon]:
    root = short_root()
    d = Daemon(root, CONFIG)
    try:
        d.start()
        yield d
    finally:
        d.stop()
        cleanup_root(root)


@pytest.mark.parametrize("name", SUBSYSTEMS)
def test_kill_9(node, name):
    wait_for(lambda: _healthy(node), timeout=60, what="a healthy daemon before the fault")
    verdict = harness.run(f"kill -9 {name}", str(node.paths.api_socket), "n1",
                          harness.kill9(lambda: node.subsystem_pid(name)), rate=RATE, clients=CLIENTS)
    _check(verdict)
    wait_for(lambda: _healthy(node), timeout=60, what=f"{name} back after kill -9")


@pytest.mark.parametrize("name", SUBSYSTEMS)
def test_sigstop(node, name):
    wait_for(lambda: _healthy(node), timeout=60, what="a healthy daemon before the fault")
    verdict = harness.run(f"SIGSTOP 3 s {name}", str(node.paths.api_socket), "n1",
                          harness.stop_cont(lambda: node.subsystem_pid(name), 3.0), rate=RATE, clients=CLIENTS)
    _check(verdict)
    wait_for(lambda: _healthy(node), timeout=60, what=f"{name} healthy after SIGCONT")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_disk_full():
    """var/lib/omd on a 4 MB tmpfs filled for 3 s: writes get 503 (not acknowledged), what was
    acknowledged before and after is delivered, the journal recovers by itself."""
    root = short_root()
    lib = root / "var" / "lib" / "omd"
    lib.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(lib)], check=True)
    d = Daemon(root, CONFIG)
    try:
        d.start()

        def fill_then_free() -> None:
            # Only state kinds are written to disk: a few state events make the journal write.
            conn = harness._UnixHTTP(str(d.paths.api_socket), 10)
            filler = Path(lib) / "filler"
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            n = 0

            def degraded() -> bool:
                nonlocal n
                n += 1
                body = {"kind": "NodeStatusUpdated", "labels": {"node": f"x{n}"},
                        "data": {"node": f"x{n}", "node_status": {"agent": "a" * 2000}}}
                try:
                    harness.post(conn, body)
                except OSError:
                    conn.close()
                return bool(d.status()["subsystems"]["journal"].get("degraded"))

            try:
                wait_for(degraded, timeout=20, interval=0.05, what="the journal degraded by the full disk")
            finally:
                conn.close()
            filler.unlink()

        verdict = harness.run("disk full", str(d.paths.api_socket), "n1", fill_then_free,
                              rate=RATE, clients=CLIENTS, after=6.0)
        _check(verdict)
        assert verdict.refused > 0, f"no 503 while the disk was full: {verdict.line()}"
        wait_for(lambda: _healthy(d), timeout=60, what="recovered once space returned")
    finally:
        d.stop()
        subprocess.run(["umount", "-l", str(lib)], check=False)
        cleanup_root(root)
