"""A bus-in writer cannot inject SSE fields, poison the dataset or flood the journal (real daemon)."""

from __future__ import annotations

import json
import time

import pytest
import zmq

from omd.model.events import ObjectStatusUpdated
from omd.sockets import Publisher
from omd.model.wire import encode_topic
from omd.subsystems.journal.protocol import JournalClient
from tests.helpers import api_client, wait_for
from tests.sse import RawStream

EVENTS = "/api/node/name/_/daemon/event"
AT = "2026-01-01T00:00:00.000000000Z"


def _raw_pub(zctx, daemon) -> zmq.Socket:
    """A raw PUB socket on bus-in, connected once the journal's subscription reached it."""
    sock = zctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(daemon.endpoint("in"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # XPUB: the bus forwards every subscription (b"" is the journal's)
        if sock.poll(200) and sock.recv() == b"\x01":
            return sock
    raise AssertionError("no subscription reached the raw publisher")


def _send(sock, kind: str, labels: dict, data: bytes, at: str = AT, seq: int = 1) -> None:
    meta = json.dumps({"at": at, "origin": "n1", "pub": "evil:1:x", "seq": seq}).encode()
    sock.send_multipart([encode_topic(kind, labels), meta, data])


def _until_marker(stream: RawStream, path: str) -> list:
    seen = []
    for ev in stream.iter_events(timeout=15):
        seen.append(ev)
        if ev.kind == "ObjectStatusUpdated" and (ev.data or {}).get("path") == path:
            return seen
    raise AssertionError(f"marker {path} never arrived; got {[e.kind for e in seen]}")


def test_injected_fields_and_bad_data_never_reach_streams_or_the_dataset(daemon, zctx):
    """CR/LF in meta.at or data, invalid JSON, a mistyped state event, a lying namespace: all
    refused and counted by the journal; streams see only the marker; /api/cluster/status stays 200."""
    stream = RawStream(str(daemon.paths.api_socket), EVENTS)
    stream.read_headers()
    sock = _raw_pub(zctx, daemon)
    nlabels = {"node": "n1"}
    good = b'{"labels":{"node":"n1"},"node":"n1","node_stats":{"score":1}}'
    _send(sock, "NodeStatsUpdated", nlabels, good, at=AT + "\nid: 99999999999\nevent: InstanceStatusUpdated", seq=1)
    _send(sock, "NodeStatsUpdated", nlabels, good[:-1] + b'\n\nid: 99999999999\nevent: X\ndata: {}}', seq=2)
    _send(sock, "NodeStatsUpdated", nlabels, b"{not json at all", seq=3)
    _send(sock, "NodeStatsUpdated", nlabels, b'{"labels":{"node":"n1"},"node":[1],"node_stats":{}}', seq=4)
    ilabels = {"namespace": "ns1", "node": "n1", "path": "ns1/svc/web"}
    _send(sock, "ObjectStatusUpdated", ilabels,
          json.dumps({"labels": ilabels, "node": "n1", "path": "root/svc/secret"}).encode(), seq=5)
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    assert pub.wait_ready(10)
    labels = {"namespace": "root", "node": "n1", "path": "marker"}
    pub.publish(ObjectStatusUpdated(path="marker", node="n1", labels=labels))
    events = _until_marker(stream, "marker")
    assert all(ev.id != 99999999999 and ev.kind not in ("X", "InstanceStatusUpdated") for ev in events)
    assert not [ev for ev in events if b"secret" in ev.raw or b"not json" in ev.raw]
    client = JournalClient(zctx, daemon.paths)
    refused = client.stats()["refused"]
    client.close()
    assert refused == {"meta": 1, "data": 3, "labels": 1}
    with api_client(daemon) as api:
        assert api.get("/api/cluster/status").status_code == 200
        metrics = api.get("/metrics").text
    for cause, n in refused.items():
        assert f'omd_journal_refused_total{{cause="{cause}"}} {n}.0' in metrics
    pub.close()
    stream.close()
    sock.close()


def test_an_event_above_the_maximum_size_is_not_kept(daemon_factory, zctx):
    """A data frame above [bus] max_event_size never reaches the journal: last_id does not move for it."""
    daemon = daemon_factory("[daemon]\nwatchdog_interval = 0.5\nsubsystems = []\n[bus]\nmax_event_size = 65536\n")
    client = JournalClient(zctx, daemon.paths)
    sock = _raw_pub(zctx, daemon)
    stream = RawStream(str(daemon.paths.api_socket), EVENTS)
    stream.read_headers()
    big = b'{"labels":{"node":"n1"},"node":"n1","node_stats":{"score":1},"pad":"' + b"x" * 200_000 + b'"}'
    _send(sock, "NodeStatsUpdated", {"node": "n1"}, big)
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    assert pub.wait_ready(10)
    labels = {"namespace": "root", "node": "n1", "path": "after"}
    pub.publish(ObjectStatusUpdated(path="after", node="n1", labels=labels))
    events = _until_marker(stream, "after")
    assert all(len(ev.data) < 65536 for ev in events)
    assert wait_for(lambda: client.stats()["events"] > 0, timeout=10)
    client.close()
    pub.close()
    stream.close()
    sock.close()


@pytest.mark.slow
def test_unreadable_idbase_fails_the_journal_until_repaired(daemon_factory, zctx):
    """No readable id file after ids were issued: the journal refuses to start (failed, not
    restarted, `omd status` exit 1); `omd journal repair-idbase` lets it start past the old ids."""
    import subprocess
    import sys

    config = "[daemon]\nwatchdog_interval = 0.5\nsubsystems = []\nstart_timeout = 5\n"
    first = daemon_factory(config)
    client = JournalClient(zctx, first.paths)
    last = client.stats()["last_id"]
    client.close()
    assert last > 0
    first.stop()
    for f in (first.paths.lib / "journal" / "idbase", first.paths.lib / "journal.idbase"):
        f.write_text("abc\n")
    second = daemon_factory(config, start=False).start(wait=False)
    wait_for(lambda: second.status().get("subsystems", {}).get("journal", {}).get("state") == "failed",
             timeout=30, what="journal failed")
    time.sleep(1.5)  # three initial backoffs: a restart loop would have restarted it by now
    journal = second.status()["subsystems"]["journal"]
    assert journal["state"] == "failed" and journal["restarts"] == 0 and journal["last_exit"] == 78
    assert "repair-idbase" in second.log()
    status = subprocess.run([sys.executable, "-m", "omd", "--root", str(second.root), "status"],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 1 and "journal failed" in status.stdout + status.stderr
    second.stop()
    repair = subprocess.run([sys.executable, "-m", "omd", "--root", str(second.root), "journal", "repair-idbase"],
                            capture_output=True, text=True, timeout=30)
    assert repair.returncode == 0, repair.stderr
    third = daemon_factory(config)
    client = JournalClient(zctx, third.paths)
    assert client.stats()["incarnation_first_id"] > last
    client.close()
