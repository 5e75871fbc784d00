"""SSE gateway benchmark against a real daemon (bus -> journal -> gateway -> client).

Prints, each with the baseline measured in the same run:

1. throughput: events/s from a publisher process through the bus, the journal and the
   gateway to one SSE client on the unix socket, against the raw bus rate (a plain SUB on
   bus-out, same publisher, same events). Target ratio >= 0.5.
2. fan-out: 100 concurrent SSE clients each matching 1% of the events (label filters).
3. latency: publish-to-receive p50/p99 at 1,000 events/s on one SSE client (target p99 <= 2 ms).
4. memory: gateway RSS growth per 1,000 idle streams.

    python bench/sse.py [--events 50000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from omd.model import wire  # noqa: E402
from omd.model.events import NodeStatsUpdated  # noqa: E402
from omd.sockets import Publisher  # noqa: E402

EVENTS_PATH = "/api/node/name/localhost/daemon/event"


def _publisher(endpoint: str, n: int, fanout: int, rate: float, tag: str, go) -> None:
    ctx = zmq.Context()
    pub = Publisher(ctx, endpoint, "n1", "bench", sndhwm=0)
    assert pub.wait_ready(10)
    go.wait()
    datas = []
    for i in range(fanout):
        ev = NodeStatsUpdated(node=f"{tag}c{i}", labels={"node": f"{tag}c{i}"})
        datas.append((ev.labels, wire.encode_data(ev)))
    interval = 1.0 / rate if rate else 0.0
    start = time.perf_counter()
    for i in range(n):
        labels, data = datas[i % fanout]
        if rate:
            left = start + i * interval - time.perf_counter()
            if left > 0:
                time.sleep(left)  # no spinning: the machine has 2 cores
            # latency runs embed the send time in the data, taken right before publishing
            ev = NodeStatsUpdated(node=labels["node"], labels=labels)
            ev.node_stats.score = time.time_ns()
            data = wire.encode_data(ev)
        pub.publish_raw("NodeStatsUpdated", labels, data)
    pub.close(linger_ms=10000)
    ctx.term()


def _sse_client(sock_path: str, query: str, n: int, latency: bool, ready, result) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(f"GET {EVENTS_PATH}?{query} HTTP/1.1\r\nHost: omd\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    ready.set()
    got, last_wall, lats = 0, 0.0, []
    s.settimeout(20)
    while got < n:
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        now_ns = time.time_ns()
        last_wall = now_ns / 1e9
        if latency:
            buf += chunk
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                k = frame.find(b'"score":')
                if k > 0:
                    sent = int(frame[k + 8:frame.index(b",", k)])
                    lats.append((now_ns - sent) / 1e6)
                    got += 1
        else:
            got += chunk.count(b"\nevent: ") + (1 if chunk.startswith(b"event: ") else 0)
    result.put((got, last_wall, lats))
    s.close()


def _bus_client(endpoint: str, n: int, ready, result) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"NodeStatsUpdated\0")
    sock.connect(endpoint)
    ready.set()
    got, last_wall = 0, 0.0
    while got < n and sock.poll(10000):
        sock.recv_multipart()
        got += 1
    last_wall = time.time()
    result.put((got, last_wall, []))
    sock.close(linger=0)
    ctx.term()


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Daemon:
    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="omd-bench-", dir="/tmp")
        os.makedirs(f"{self.root}/etc/omd")
        with open(f"{self.root}/etc/omd/omd.toml", "w") as f:
            f.write("[gateway]\nring_size = 200000\nstream_queue_size = 100000\n")
        self.proc = subprocess.Popen([sys.executable, "-m", "omd", "--root", self.root, "run"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(f"{self.root}/var/run/omd/api.sock"):
            if time.monotonic() > deadline:
                raise SystemExit("daemon did not start")
            time.sleep(0.05)
        self.api = f"{self.root}/var/run/omd/api.sock"
        self.bus_in = f"ipc://{self.root}/var/run/omd/bus-in.sock"
        self.bus_out = f"ipc://{self.root}/var/run/omd/bus-out.sock"

    def gateway_pid(self) -> int:
        import json

        with open(f"{self.root}/var/run/omd/status.json") as f:
            return json.load(f)["subsystems"]["gateway"]["pid"]

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        shutil.rmtree(self.root, ignore_errors=True)


def run_pair(d: Daemon, clients: list[tuple], n: int, fanout: int = 1, rate: float = 0.0,
             tag: str = "") -> list[tuple]:
    """Run clients and one publisher; `tag` prefixes the node labels so that a phase's clients
    count only that phase's events."""
    go = mp.Event()
    result: mp.Queue = mp.Queue()
    procs = []
    for target, args in clients:
        ready = mp.Event()
        p = mp.Process(target=target, args=(*args, ready, result))
        p.start()
        ready.wait(30)
        procs.append(p)
    time.sleep(0.3)  # benchmark only: let the gateway register the streams
    pub = mp.Process(target=_publisher, args=(d.bus_in, n, fanout, rate, tag, go))
    pub.start()
    time.sleep(0.5)  # benchmark only: the publisher process is up and connected
    start = time.time()
    go.set()
    out = [result.get(timeout=300) for _ in procs]
    pub.join()
    for p in procs:
        p.join(30)
    # (received, seconds from the publisher's go to that client's last event, latencies)
    return [(got, last - start, lats) for got, last, lats in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    n = args.events
    d = Daemon()
    try:
        bus = run_pair(d, [(_bus_client, (d.bus_out, n))], n)[0]
        sse = run_pair(d, [(_sse_client, (d.api, "filter=NodeStatsUpdated,node=p1c0", n, False))], n, tag="p1")[0]
        bus_rate, sse_rate = bus[0] / bus[1], sse[0] / sse[1]
        print(f"1. raw bus:           {bus[0]}/{n} events, last one {bus[1]:.2f}s after the start = {bus_rate:,.0f}/s")
        print(f"   SSE (1 client):    {sse[0]}/{n} events, last one {sse[1]:.2f}s after the start = {sse_rate:,.0f}/s")
        print(f"   ratio SSE/bus: {sse_rate / bus_rate:.2f} (target >= 0.5)")

        fan = run_pair(d, [(_sse_client, (d.api, f"filter=NodeStatsUpdated,node=p2c{i}", n // 100, False))
                           for i in range(100)], n, fanout=100, tag="p2")
        total = sum(g for g, _, _ in fan)
        secs = max(s for _, s, _ in fan)
        print(f"2. 100 clients x 1%:  {total}/{n} delivered, last one {secs:.2f}s after the start; "
              f"events/s through the gateway: {n / secs:,.0f} ({n / secs / bus_rate:.2f} of raw bus)")

    finally:
        d.close()
    d = Daemon()  # fresh daemons: earlier phases' backlog and garbage must not blur these figures
    try:
        lat_n = 3000
        lat = run_pair(d, [(_sse_client, (d.api, "filter=NodeStatsUpdated", lat_n, True))], lat_n, rate=1000)[0]
        lats = sorted(lat[2])
        if lats:
            p50 = statistics.median(lats)
            p99 = lats[int(len(lats) * 0.99) - 1]
            print(f"3. latency at 1,000/s: {len(lats)} events, p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= 2 ms)")

    finally:
        d.close()
    d = Daemon()
    try:
        pid = d.gateway_pid()
        before = _rss_kb(pid)
        socks = []
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.api)
            s.sendall(f"GET {EVENTS_PATH}?filter=ObjectStatusDone HTTP/1.1\r\nHost: omd\r\n\r\n".encode())
            socks.append(s)
        for s in socks:
            s.settimeout(30)
            s.recv(4096)
        time.sleep(1)
        after = _rss_kb(pid)
        print(f"4. memory: gateway RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB with 1,000 idle streams "
              f"= {(after - before) / 1000:.1f} KiB per stream")
        for s in socks:
            s.close()
    finally:
        d.close()


if __name__ == "__main__":
    main()
