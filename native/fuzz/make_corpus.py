"""Write the seed corpus of native/fuzz/fuzz_matcher.c: valid filter programs, real topics and
data frames (the fuzzer mutates them), one file per (program, event).

Usage: python native/fuzz/make_corpus.py DIR
"""

from __future__ import annotations

import pathlib
import struct
import sys

from omd.model import events as ev
from omd.model import wire
from omd.filters import parse
from omd.filters._program import encode_program

FILTERS = [
    [], ["InstanceStatusUpdated"], ["path=svc1,node=n1"], ["path=svc*,node!=n[23]", "NodeStatusUpdated"],
    ['InstanceStatusUpdated,path=svc1,.instance_status.frozen_at="0001-01-01T00:00:00Z"'],
    ['.instance_status.resources."fs#1".status=up', ".instance_status.avail!=down"],
    [".node_stats.mem_avail<20,.node_stats.load_15m>=0.5", ".cluster_status.is_frozen=true"],
    [".a[1].b=null", '.labels.node>"m"', ".x<=-1e3"],
]


def events() -> list[tuple[bytes, bytes]]:
    """A few real events, plus hand-made edge cases."""
    res = {f"fs#{i}": ev.ResourceStatus(status="up", label=f"fs{i}", type="fs.flag") for i in range(3)}
    typed = [
        ev.InstanceStatusUpdated(labels={"namespace": "root", "node": "n1", "path": "svc1"}, path="svc1",
                                 node="n1", instance_status=ev.InstanceStatus(avail="up", resources=res)),
        ev.NodeStatsUpdated(labels={"node": "n1"}, node="n1", node_stats=ev.NodeStats(mem_avail=12)),
        ev.ClusterStatusUpdated(labels=None, cluster_status=ev.ClusterStatus(is_frozen=True)),
    ]
    out = [(wire.encode_topic(e.kind, e.labels), wire.encode_data(e)) for e in typed]
    out.append((b"X\0a=1\0", b'{"a":[0,{"b":null}],"x":-1e3,"s":"\\ud83d\\ude00\\u00e9\\n"}'))
    return out


def main(directory: str) -> None:
    """Write the corpus files."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for i, exprs in enumerate(FILTERS):
        prog = encode_program(parse(exprs))
        for j, (topic, data) in enumerate(events()):
            blob = struct.pack("<H", len(prog)) + prog + struct.pack("<H", len(topic)) + topic + data
            (d / f"seed-{i}-{j}").write_bytes(blob)


if __name__ == "__main__":
    main(sys.argv[1])
