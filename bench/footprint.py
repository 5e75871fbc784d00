"""The daemon's footprint: PSS of all its processes idle and after N events, and the CPU and
wall time of a start, with subsystems forked from the zygote and as fresh interpreters
(`[daemon] zygote`), measured in the same run; prints each figure and the ratio.

    python bench/footprint.py [--events 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from omd.model import wire  # noqa: E402
from omd.model.events import InstanceStatus, InstanceStatusUpdated  # noqa: E402
from omd.sockets import Publisher  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _pids(root: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if root.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except OSError:
            pass
    return total


def _status(root: str) -> dict:
    try:
        with open(f"{root}/var/run/omd/status.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _settle(pids_of, seconds: float = 2.0) -> None:
    """Wait until the daemon used less than 2% of a core over a 0.5 s window (max `seconds`*5)."""
    deadline = time.monotonic() + seconds * 5
    last = _cpu(pids_of())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu(pids_of())
        if now - last < 0.01:
            return
        last = now


def measure(zygote: bool, events: int) -> dict[str, float]:
    root = tempfile.mkdtemp(prefix="omd-fp-", dir="/tmp")
    os.makedirs(f"{root}/etc/omd")
    with open(f"{root}/etc/omd/omd.toml", "w") as f:
        f.write(f"[daemon]\nzygote = {'true' if zygote else 'false'}\n")
    started = time.monotonic()
    daemon = subprocess.Popen([sys.executable, "-m", "omd", "--root", root, "run"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _status(root).get("status") != "started":
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("daemon did not start")
            time.sleep(0.01)
        wall = time.monotonic() - started
        start_cpu = _cpu(_pids(root))
        _settle(lambda: _pids(root))
        idle = _pss_kib(_pids(root))
        ctx = zmq.Context()
        pub = Publisher(ctx, f"ipc://{root}/var/run/omd/bus-in.sock", "n1", "istat")
        assert pub.wait_ready(10)
        for i in range(events):
            ev = InstanceStatusUpdated(node="n1", path=f"svc{i % 500}",
                                       labels={"namespace": "root", "node": "n1", "path": f"svc{i % 500}"},
                                       instance_status=InstanceStatus(avail="up" if i % 2 else "down"))
            pub.publish_raw("InstanceStatusUpdated", ev.labels, wire.encode_data(ev))
            if i % 1000 == 999:
                time.sleep(0.01)  # paced: the figure is the footprint, not the drop rate
        pub.close(linger_ms=5000)
        ctx.term()
        _settle(lambda: _pids(root))
        loaded = _pss_kib(_pids(root))
        return {"start_wall": wall, "start_cpu": start_cpu, "idle_mib": idle / 1024,
                "loaded_mib": loaded / 1024, "processes": len(_pids(root))}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for r in range(args.rounds):
        for zygote in (False, True):
            m = measure(zygote, args.events)
            runs[zygote].append(m)
            print(f"round {r + 1} zygote={str(zygote).lower():5}: {m['processes']} processes, start "
                  f"{m['start_wall']:.2f} s wall {m['start_cpu']:.2f} s CPU, PSS idle {m['idle_mib']:.0f} MiB, "
                  f"after {args.events} events {m['loaded_mib']:.0f} MiB", flush=True)
    med = {z: {k: statistics.median(m[k] for m in runs[z]) for k in runs[z][0]} for z in runs}
    for key, label in (("start_cpu", "start CPU"), ("start_wall", "start wall"),
                       ("idle_mib", "PSS idle"), ("loaded_mib", f"PSS after {args.events} events")):
        print(f"median {label}: fresh {med[False][key]:.2f}, zygote {med[True][key]:.2f}, "
              f"ratio {med[True][key] / med[False][key]:.2f}")
    print(f"target: PSS idle <= 100 MiB (zygote: {med[True]['idle_mib']:.0f})")


if __name__ == "__main__":
    main()
