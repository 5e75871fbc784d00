"""The journal's work per event, in process (no sockets): `Journal.accept` (validation, where
the version has it) then `Journal.record` and a flush every 100 events, on 50,000
NodeStatsUpdated events of 100 nodes (the traffic of bench/sse.py). Run it with two
checkouts' interpreters to compare versions; it prints microseconds per event.

    python bench/journal_accept.py [LABEL]
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from omd.paths import Paths  # noqa: E402
from omd.model import wire  # noqa: E402
from omd.model.events import NodeStatsUpdated  # noqa: E402
from omd.subsystems.journal import Journal  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("label", nargs="?", default="journal")
args = parser.parse_args()
root = pathlib.Path(tempfile.mkdtemp(prefix="jb-"))
paths = Paths(root)
j = Journal(paths, 10000, "n1")
datas = []
for i in range(100):
    ev = NodeStatsUpdated(node=f"c{i}", labels={"node": f"c{i}"})
    datas.append((ev.labels, wire.encode_data(ev), wire.encode_topic("NodeStatsUpdated", ev.labels)))
meta = b'{"at":"2026-12-02T10:00:00.000000000Z","pub":"x","seq":1}'
at = "2026-12-02T10:00:00.000000000Z"
acc = getattr(j, "accept", None)
N = 50000
t = time.perf_counter()
for i in range(N):
    labels, data, topic = datas[i % 100]
    if acc is None or acc("NodeStatsUpdated", labels, topic, meta, at, data):
        j.record("NodeStatsUpdated", topic, meta, data, at, "x", i)
    if i % 100 == 99:
        j.flush()
elapsed = time.perf_counter() - t
refused = sum(getattr(j, "refused", {}).values())
shutil.rmtree(root)
assert refused == 0, f"the journal refused {refused} events: the figure would not be comparable"
print(args.label, round(elapsed / N * 1e6, 2), "us/event")
