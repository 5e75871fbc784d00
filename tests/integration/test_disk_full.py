"""var/lib/omd on a small tmpfs that fills up: 503, degraded, a gap, no temporaries, recovery (real daemon)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import Daemon, api_client, wait_for
from tests.sse import RawStream

EVENTS = "/api/node/name/_/daemon/event"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")


def _post(api, n: int):
    body = {"kind": "NodeStatusUpdated", "labels": {"node": f"x{n}"},
            "data": {"node": f"x{n}", "node_status": {"agent": "a" * 2000}}}
    return api.post("/api/node/event", json=body)


def _fill(directory) -> None:
    """Write a file until the filesystem is full."""
    with open(directory / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_degrades_answers_503_and_recovers(root):
    """Filling var/lib/omd: state writes fail, POSTs get 503 with Retry-After, the journal is
    degraded in status.json, streams get a not_durable gap, no *.tmp stays; freeing space
    brings the journal back to healthy and POSTs to 200 by itself."""
    lib = root / "var" / "lib" / "omd"
    lib.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(lib)], check=True)
    daemon = None
    try:
        daemon = Daemon(root).start()
        with api_client(daemon) as api:
            assert _post(api, 0).status_code == 200
            stream = RawStream(str(daemon.paths.api_socket), EVENTS + "?filter=NodeStatusUpdated")
            stream.read_headers()
            _fill(lib)
            seen = []

            def refused():
                seen.append(_post(api, len(seen) + 1))
                return seen[-1].status_code == 503 and seen[-1]

            r = wait_for(refused, timeout=30, interval=0.2, what="a 503 once the disk is full")
            assert r.headers["Retry-After"] and "disk" in r.json()["detail"]
            assert all(x.status_code in (200, 503) for x in seen)
            wait_for(lambda: "journal disk: ENOSPC" in daemon.status()["subsystems"]["journal"]["degraded"],
                     timeout=15, what="journal degraded")
            gaps = [ev for ev in stream.events(50, 5) if ev.kind == "SubscriptionError"]
            assert gaps and gaps[0].data["cause"] == "not_durable" and gaps[0].data["labels"] == {"source": "journal"}
            stream.close()
            assert not list(lib.rglob("*.tmp"))
            out = subprocess.run([os.sys.executable, "-m", "omd", "--root", str(root), "status"],
                                 capture_output=True, text=True, timeout=30)
            assert "degraded" in out.stdout + out.stderr
            metrics = api.get("/metrics").text
            assert "omd_journal_durable 0.0" in metrics
            (lib / "filler").unlink()
            wait_for(lambda: daemon.status()["subsystems"]["journal"]["degraded"] == "", timeout=60,
                     interval=0.5, what="journal healthy again")
            assert _post(api, 999).status_code == 200
            assert "omd_journal_durable 1.0" in api.get("/metrics").text
    finally:
        if daemon is not None:
            daemon.stop()
        subprocess.run(["umount", "-l", str(lib)], check=False)
