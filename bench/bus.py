"""Bus throughput: publisher process -> omd bus (real daemon) -> subscriber process.

In the same run, the same frames go over a direct pyzmq PUB -> SUB pair (ipc), the baseline.
Both publishers build and send each message the same way; the omd side publishes through
`omd.sockets.Publisher.publish_raw` (XPUB, ready handshake, per-kind seq) into the bus
process, the baseline straight to the subscriber. Prints events/s for both and the ratio (target >= 0.85).

    python bench/bus.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
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
from omd.model.events import InstanceStatusUpdated  # noqa: E402
from omd.sockets import Publisher  # noqa: E402

KIND = "InstanceStatusUpdated"
LABELS = {"namespace": "root", "node": "n1", "path": "svc1"}
DATA = wire.encode_data(InstanceStatusUpdated(labels=LABELS, path="svc1", node="n1"))


def _subscriber(endpoint: str, n: int, ready, result) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SUBSCRIBE, wire.topic_prefix(KIND))
    probe = b"\xffomd.probe.bench"
    sock.setsockopt(zmq.SUBSCRIBE, probe)
    sock.connect(endpoint)
    ready.set()
    got = 0
    first = last = 0.0
    while got < n and sock.poll(3000):
        sock.recv_multipart(copy=False)
        if got == 0:
            first = time.perf_counter()
        got += 1
    last = time.perf_counter()
    result.put((got, last - first))
    sock.close()
    ctx.term()


def _omd_publisher(endpoint: str, n: int) -> None:
    ctx = zmq.Context()
    pub = Publisher(ctx, endpoint, "n1", "bench", sndhwm=0)
    assert pub.wait_subscription(b"\xffomd.probe.bench", 10)
    for _ in range(n):
        pub.publish_raw(KIND, LABELS, DATA)
    pub.close(linger_ms=5000)
    ctx.term()


def _direct_publisher(endpoint: str, n: int) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)  # sends exactly like a PUB; lets us see the subscriber
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(endpoint)
    while sock.recv() != b"\x01\xffomd.probe.bench":
        pass
    # Same frame construction and send calls as omd.sockets.Publisher.publish_raw, minus
    # the bus: the ratio is the cost of the proxy hop and the publisher's bookkeeping.
    middle = b'","origin":"n1","pub":"direct","seq":'
    for seq in range(1, n + 1):
        sock.send(wire.encode_topic(KIND, LABELS), zmq.SNDMORE)
        sock.send(b'{"at":"%s%s%d}' % (wire.rfc3339_ns().encode(), middle, seq), zmq.SNDMORE)
        sock.send(DATA)
    sock.close(linger=5000)
    ctx.term()


def run_omd(root: str, n: int) -> tuple[int, float]:
    ready, result = mp.Event(), mp.Queue()
    out = f"ipc://{root}/var/run/omd/bus-out.sock"
    inp = f"ipc://{root}/var/run/omd/bus-in.sock"
    sub = mp.Process(target=_subscriber, args=(out, n, ready, result))
    sub.start()
    ready.wait()
    pub = mp.Process(target=_omd_publisher, args=(inp, n))
    pub.start()
    got = result.get(timeout=120)
    pub.join()
    sub.join()
    return got


def run_direct(tmp: str, n: int) -> tuple[int, float]:
    ready, result = mp.Event(), mp.Queue()
    endpoint = f"ipc://{tmp}/direct.sock"
    pub = mp.Process(target=_direct_publisher, args=(endpoint, n))
    pub.start()
    sub = mp.Process(target=_subscriber, args=(endpoint, n, ready, result))
    sub.start()
    got = result.get(timeout=120)
    pub.join()
    sub.join()
    return got


def subsystem_cpu(root: str) -> dict[str, float]:
    """CPU seconds (user + system) each daemon subsystem process has used so far."""
    with open(f"{root}/var/run/omd/status.json") as f:
        subsystems = json.load(f)["subsystems"]
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, sub in subsystems.items():
        try:
            with open(f"/proc/{sub['pid']}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, KeyError):
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="omd-bench-", dir="/tmp")
    daemon = subprocess.Popen([sys.executable, "-m", "omd", "--root", root, "run"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(f"{root}/var/run/omd/status.json"):
            if time.monotonic() > deadline:
                raise SystemExit("daemon did not start")
            time.sleep(0.05)
        ctx = zmq.Context()  # wait for the bus handshake like any publisher would
        probe = Publisher(ctx, f"ipc://{root}/var/run/omd/bus-in.sock", "n1", "probe")
        assert probe.wait_ready(10)
        probe.close()
        ctx.term()
        omd_rates, direct_rates = [], []
        while json.load(open(f"{root}/var/run/omd/status.json"))["status"] != "started":
            if time.monotonic() > deadline:
                raise SystemExit("daemon did not say started")
            time.sleep(0.05)
        cpu_before = subsystem_cpu(root)
        for r in range(args.rounds):
            got_d, secs_d = run_direct(root, args.events)
            got_o, secs_o = run_omd(root, args.events)
            direct_rates.append(got_d / secs_d)
            omd_rates.append(got_o / secs_o)
            print(f"round {r + 1}: direct {got_d}/{args.events} in {secs_d:.3f}s = {got_d / secs_d:,.0f}/s; "
                  f"omd bus {got_o}/{args.events} in {secs_o:.3f}s = {got_o / secs_o:,.0f}/s", flush=True)
        d, o = statistics.median(direct_rates), statistics.median(omd_rates)
        print(f"median direct PUB->SUB: {d:,.0f} events/s")
        print(f"median omd bus:         {o:,.0f} events/s")
        print(f"ratio omd/direct: {o / d:.2f} (target >= 0.85)")
        cpu_after = subsystem_cpu(root)
        per_k = {name: (cpu_after[name] - cpu_before[name]) * 1e6 / (args.rounds * args.events)
                 for name in cpu_after if name in cpu_before}
        print("daemon subsystems, CPU per event sent through the bus (us): "
              + ", ".join(f"{name} {us:.1f}" for name, us in sorted(per_k.items(), key=lambda kv: -kv[1])))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
