"""Benchmark: renders/s of the user doc's "Simple event formatting" template.

Renders ``{{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node
.data.instance_monitor.state}}`` on realistic InstanceMonitorUpdated events (about 1 KB of
JSON each) with omd.gotemplate, and, as the baseline measured in the same run, the same
output produced by hand-written Python %-formatting. Prints both rates and their ratio.

    python bench/template.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omd.gotemplate import Template, decode_json  # noqa: E402

TEMPLATE = '{{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}'
AT = "2024-05-02T10:11:12.123456789Z"


def event(i: int) -> dict:
    """One realistic InstanceMonitorUpdated envelope, decoded as Go would (floats)."""
    path, node = "ns%d/svc/app%03d" % (i % 3, i), "dev1n%d" % (i % 4 + 1)
    doc = {"kind": "InstanceMonitorUpdated", "id": 1000 + i, "at": AT, "data": {
        "labels": {"namespace": "ns%d" % (i % 3), "node": node, "path": path},
        "path": path, "node": node,
        "instance_monitor": {
            "global_expect": "none", "global_expect_updated_at": AT, "global_expect_options": None,
            "is_leader": True, "is_ha_leader": False, "local_expect": "started",
            "local_expect_updated_at": AT, "orchestration_id": "00000000-0000-0000-0000-000000000000",
            "orchestration_is_done": False, "session_id": "7c0e0b8e-8d7b-4d0e-9f3c-2b2a4d6e8f10",
            "state": ("idle", "starting", "stopping")[i % 3], "state_updated_at": AT,
            "monitor_action_executed_at": "0001-01-01T00:00:00Z", "preserved": False,
            "resources": {"fs#1": {"restart": {"remaining": 0, "last_at": AT}},
                          "app#1": {"restart": {"remaining": 2, "last_at": AT}}},
            "updated_at": AT, "parents": {}, "children": {}}}}
    return decode_json(json.dumps(doc))


def baseline(ev: dict) -> str:
    """The same output, hand-written."""
    d = ev["data"]
    return "instance %s@%s monitor state is %s\n" % (d["path"], d["node"], d["instance_monitor"]["state"])


def rate(fn, events: list, seconds: float) -> float:
    """Calls per second of fn over the events, measured for about `seconds`."""
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for ev in events:
            fn(ev)
        n += len(events)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    events = [event(i) for i in range(100)]
    size = sum(len(json.dumps(e)) for e in events) // len(events)
    tmpl = Template.parse(TEMPLATE)
    for ev in events:
        assert tmpl.render(ev) == baseline(ev)
    ours = rate(tmpl.render, events, args.seconds)
    base = rate(baseline, events, args.seconds)
    print("event size           %d bytes of JSON" % size)
    print("omd.gotemplate       %10.0f renders/s" % ours)
    print("python %%-formatting  %10.0f renders/s (baseline)" % base)
    print("ratio                %10.2f x slower than the baseline" % (base / ours))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
