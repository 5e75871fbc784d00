"""Filter matcher speed: the C matcher against its pure-Python twin, in the same process.

Events are realistic InstanceStatusUpdated frames (~1.2 KB, five resources) of node n1 for cases
a-c, so every event passes the labels and reaches the data assertion of c (a third match it),
and a mix of kinds from four nodes for d. Cases:

  a  kind only                       InstanceStatusUpdated
  b  kind + two labels               InstanceStatusUpdated,namespace=root,node=n1
  c  kind + labels + data assertion  InstanceStatusUpdated,namespace=root,node=n1,.instance_status.avail=up
  d  1,000 filter sets (one per client) over 10,000 events of mixed kinds

Cases a-c match batches of --batch events (default 1,000: about 1.2 MB of data frames, what a
gateway batch of fresh events looks like; with 10,000 the 12 MB no longer fit in the caches),
case d matches --events events (10,000) against
1,000 filter sets. For each case: events/s of the batch API (`MatcherBank.match_pairs`, one
bank) and of one `Matcher.match` call per event, for C and for Python, and the C/Python ratio. Targets: C >= 30x
Python on c; a and b >= 5 M events/s (C, batch, one core); d far below 1,000x the per-event
time of a.

    python bench/matcher.py [--batch 1000] [--events 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from omd.model import events as ev  # noqa: E402
from omd.model import wire  # noqa: E402
from omd.filters import implementations, parse  # noqa: E402

CASES = {
    "a": ["InstanceStatusUpdated"],
    "b": ["InstanceStatusUpdated,namespace=root,node=n1"],
    "c": ["InstanceStatusUpdated,namespace=root,node=n1,.instance_status.avail=up"],
}


def instance_event(i: int, nodes: int = 1) -> tuple[bytes, bytes]:
    """A ~1.2 KB InstanceStatusUpdated with five resources."""
    path, node = f"svc{i % 20}", f"n{i % nodes + 1}"
    resources = {
        rid: ev.ResourceStatus(label=label, status=("up", "down", "n/a")[(i + k) % 3], type=typ,
                               provisioned={"state": "true", "mtime": "2024-05-01T10:00:00.123456789Z"},
                               monitor=k == 0, optional=k == 4)
        for k, (rid, label, typ) in enumerate([
            ("ip#1", "10.0.0.12/24 eth0", "ip.host"), ("disk#1", "vg vgsvc", "disk.vg"),
            ("fs#1", "/srv/data ext4 /dev/vgsvc/data", "fs.ext4"),
            ("app#1", "start /usr/bin/svcd", "app.simple"), ("sync#1", "rsync to drp", "sync.rsync")])
    }
    e = ev.InstanceStatusUpdated(
        labels={"namespace": "root", "node": node, "path": path}, path=path, node=node,
        instance_status=ev.InstanceStatus(
            avail=("up", "down", "warn")[i % 3], overall="up", provisioned="true",
            frozen_at=ev.ZERO_TIME, last_started_at="2024-05-01T09:58:12.000000001Z",
            updated_at="2024-05-01T10:00:00.123456789Z", resources=resources),
    )
    return wire.encode_topic(e.kind, e.labels), wire.encode_data(e)


def mixed_events(n: int) -> list[tuple[bytes, bytes]]:
    """Events of several kinds, some of which no client asks for."""
    out = []
    for i in range(n):
        k = i % 5
        if k in (0, 1):
            out.append(instance_event(i, nodes=4))
            continue
        if k == 2:
            e: ev.Event = ev.ObjectStatusUpdated(labels={"namespace": "root", "path": f"svc{i % 20}"},
                                                path=f"svc{i % 20}", node="n1",
                                                object_status=ev.ObjectStatus(avail="up"))
        elif k == 3:
            e = ev.NodeStatsUpdated(labels={"node": f"n{i % 4 + 1}"}, node=f"n{i % 4 + 1}",
                                    node_stats=ev.NodeStats(mem_avail=i % 100, load_15m=0.5))
        else:
            e = ev.DaemonHeartbeatUpdated(labels={"node": "n1"}, node="n1",
                                          heartbeat={"streams": [{"id": "hb#1.rx", "beating": True}]})
        out.append((wire.encode_topic(e.kind, e.labels), wire.encode_data(e)))
    return out


def client_filters(i: int) -> list[str]:
    """What client `i` of case d subscribes to: a realistic spread of dashboards and waiters."""
    k = i % 4
    if k == 0:
        return [f"InstanceStatusUpdated,path=svc{i % 20}"]
    if k == 1:
        return [f"InstanceStatusUpdated,ObjectStatusUpdated,path=svc{i % 20},node=n{i % 4 + 1}"]
    if k == 2:
        return [f"InstanceStatusUpdated,path=svc{i % 20},.instance_status.avail=up"]
    return [f"NodeStatsUpdated,node=n{i % 4 + 1},.node_stats.mem_avail<{i % 100}"]


def best(fn, rounds: int) -> float:
    """Best wall time of `rounds` calls."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(impl, specs, events, rounds: int, single: bool) -> tuple[float, float | None, int]:
    """(batch events/s, single-call events/s or None, matches per batch)."""
    bank = impl.MatcherBank()
    for spec in specs:
        bank.add(impl.Matcher(spec))
    matches = len(bank.match_pairs(events)) // 2
    batch = len(events) / best(lambda: bank.match_pairs(events), rounds)
    one = None
    if single:
        m = impl.Matcher(specs[0])
        match = m.match

        def loop() -> None:
            for topic, data in events:
                match(topic, data)

        one = len(events) / best(loop, rounds)
    return batch, one, matches


def main() -> None:
    """Run every case and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1_000, help="events per batch in cases a-c")
    p.add_argument("--events", type=int, default=10_000, help="events of case d")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    impls = implementations()
    if "c" not in impls:
        sys.exit("the C matcher is not built (pip install -e .)")
    events = [instance_event(i) for i in range(args.batch)]
    size = sum(len(d) for _, d in events) // len(events)
    print(f"a-c: batches of {args.batch} events, mean data frame {size} bytes; d: {args.events} "
          f"events, 1000 filter sets; best of {args.rounds} rounds")
    print(f"{'case':<6}{'impl':<8}{'batch ev/s':>14}{'match() ev/s':>14}{'matches':>9}")
    per_event = {}
    for case, exprs in CASES.items():
        spec = parse(exprs)
        res = {}
        for name in ("c", "python"):
            res[name] = measure(impls[name], [spec], events, args.rounds, single=True)
            batch, one, matches = res[name]
            print(f"{case:<6}{name:<8}{batch:>14,.0f}{one:>14,.0f}{matches:>9}")
        per_event[case] = 1 / res["c"][0]
        print(f"{case:<6}{'C/Py':<8}{res['c'][0] / res['python'][0]:>13.1f}x"
              f"{res['c'][1] / res['python'][1]:>13.1f}x")
    mixed = mixed_events(args.events)
    specs = [parse(client_filters(i)) for i in range(1000)]
    res = {}
    for name in ("c", "python"):
        res[name] = measure(impls[name], specs, mixed, max(1, args.rounds // 2 if name == "python" else args.rounds),
                            single=False)
        batch, _, matches = res[name]
        print(f"{'d':<6}{name:<8}{batch:>14,.0f}{'-':>14}{matches:>9}")
    print(f"{'d':<6}{'C/Py':<8}{res['c'][0] / res['python'][0]:>13.1f}x")
    print(f"d/a per-event time (C, batch): {per_event['a'] and (1 / res['c'][0]) / per_event['a']:.0f}x "
          f"(target: far below 1000x)")


if __name__ == "__main__":
    main()
