"""CLI speed: `--help` wall time, a wait answered from replay, and json printing to a pipe.

Each figure comes with a baseline from the same run:

1. `om node events --help` wall time (target < 150 ms) vs `python -c pass`;
2. `om node events --wait` on a condition already true (target < 300 ms) vs `--help`;
3. events/s printed as json to a pipe (target >= 50,000): `--input` of a captured stream,
   and a live stream from a real daemon, vs `cat` of the same file.

    python bench/cli.py [--runs 10] [--events 100000]
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

PY = sys.executable


def wall(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of `cmd` in ms."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    om = shutil.which("om", path=os.path.dirname(PY)) or shutil.which("om")
    if not om:
        raise SystemExit("om is not installed: pip install -e .")
    base = wall([PY, "-c", "pass"], args.runs)
    help_ms = wall([om, "node", "events", "--help"], args.runs)
    print(f"1. om node events --help: {help_ms:.0f} ms (python -c pass: {base:.0f} ms; target < 150 ms)")

    root = tempfile.mkdtemp(prefix="omd-bench-", dir="/tmp")
    os.makedirs(f"{root}/etc/omd")
    with open(f"{root}/etc/omd/omd.toml", "w") as f:  # measure capacity, not overflow handling
        f.write("[gateway]\nring_size = 200000\nstream_queue_size = 100000\n")
    daemon = subprocess.Popen([PY, "-m", "omd", "--root", root, "run"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    env = {**os.environ, "OMD_ROOT": root}
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(f"{root}/var/run/omd/api.sock"):
            if time.monotonic() > deadline:
                raise SystemExit("daemon did not start")
            time.sleep(0.05)
        time.sleep(0.5)
        tmpl = '{{if setSuccess (eq .data.listener.state "running")}}{{end}}'
        wait_ms = wall([om, "node", "events", "--wait", "--filter", "DaemonListenerUpdated", "--template", tmpl],
                       args.runs, env)
        print(f"2. om node events --wait (already true): {wait_ms:.0f} ms (--help: {help_ms:.0f} ms; target < 300 ms)")

        path = os.path.join(root, "events.jsonl")
        data = {"labels": {"namespace": "root", "node": "n1", "path": "svc1"}, "path": "svc1", "node": "n1",
                "instance_status": {"avail": "up", "overall": "up", "provisioned": "true",
                                    "frozen_at": "0001-01-01T00:00:00Z",
                                    "resources": {f"fs#{i}": {"status": "up", "label": "x" * 40} for i in range(4)}}}
        with open(path, "w") as f:
            for i in range(args.events):
                f.write(json.dumps({"kind": "InstanceStatusUpdated", "id": i + 1, "at": "2026-11-26T00:00:00Z",
                                    "data": data}, separators=(",", ":")) + "\n")
        t0 = time.perf_counter()
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
        cat_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = subprocess.run([om, "node", "events", "--input", path, "-o", "json"], stdout=subprocess.PIPE, check=True)
        input_s = time.perf_counter() - t0
        assert out.stdout.count(b"\n") == args.events
        print(f"3. --input -o json | pipe: {args.events / input_s:,.0f} events/s (cat: {args.events / cat_s:,.0f} "
              f"events/s; target >= 50,000)")

        # live: a publisher floods the bus while om prints json to a pipe
        n = min(args.events, 50_000)
        om_proc = subprocess.Popen([om, "node", "events", "--filter", "NodeStatsUpdated", "-o", "json",
                                    "--limit", str(n), "--duration", "60"], stdout=subprocess.PIPE, env=env)
        time.sleep(1.0)  # benchmark only: let the stream open
        code = f"""
import zmq
from omd.sockets import Publisher
from omd.model.events import NodeStatsUpdated
from omd.model import wire
ctx = zmq.Context(); pub = Publisher(ctx, "ipc://{root}/var/run/omd/bus-in.sock", "n1", "bench", sndhwm=0)
pub.wait_ready(10)
ev = NodeStatsUpdated(node="n1", labels={{"node": "n1"}}); data = wire.encode_data(ev)
for _ in range({n}): pub.publish_raw("NodeStatsUpdated", ev.labels, data)
pub.close(linger_ms=10000); ctx.term()
"""
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", code], check=True)
        count = 0
        first = None
        for line in om_proc.stdout:
            if first is None:
                first = time.perf_counter()
            count += 1
        om_proc.wait(60)
        live_s = time.perf_counter() - (first or t0)
        print(f"   live stream -o json | pipe: {count}/{n} events, {count / live_s:,.0f} events/s "
              f"(includes bus, journal and gateway)")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
