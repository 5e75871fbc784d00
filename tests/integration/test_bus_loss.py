"""Events the bus loses (kill -9 of the bus, a flood it drops) reach clients as gaps (real daemon)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import zmq

from omd.model.events import ObjectStatusUpdated
from omd.model.wire import encode_topic
from omd.sockets import Publisher
from omd.subsystems.journal.protocol import JournalClient
from tests.helpers import api_client, wait_for
from tests.sse import RawStream

EVENTS = "/api/node/name/_/daemon/event"
AT = "2026-01-01T00:00:00.000000000Z"


def _journal_stats(zctx, daemon) -> dict:
    client = JournalClient(zctx, daemon.paths)
    try:
        return client.stats()
    finally:
        client.close()


def _journal_gap(stream: RawStream, timeout: float = 20) -> dict:
    """The data of the first journal gap event of `stream` (AssertionError when none comes)."""
    kinds = []
    for ev in stream.iter_events(timeout=timeout):
        kinds.append(ev.kind)
        if ev.kind == "SubscriptionError" and (ev.data or {}).get("labels") == {"source": "journal"}:
            return {**ev.data, "_id": ev.id}
    raise AssertionError(f"no journal gap event; got {kinds[-20:]}")


def _last_id(daemon) -> int:
    stream = RawStream(str(daemon.paths.api_socket), EVENTS + "?limit=1&filter=ObjectStatusUpdated")
    stream.read_headers()
    try:
        (ev,) = stream.events(1, 15)
        return ev.id
    finally:
        stream.close()


def test_bus_kill_gives_resuming_and_live_clients_a_gap(daemon, zctx):
    """kill -9 of the bus while a source publishes: the journal counts the events lost, live
    streams and streams resuming from before the kill get a gap event (not silence)."""
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    assert pub.wait_ready(10)
    stop = threading.Event()

    def source() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            labels = {"namespace": "root", "node": "n1", "path": f"s{n % 5}"}
            pub.publish(ObjectStatusUpdated(path=f"s{n % 5}", node="n1", labels=labels), ready_timeout=0)
            time.sleep(0.005)

    acked: list[int] = []
    statuses: list[int] = []

    def poster() -> None:  # POSTs through the API meanwhile: each 200 must be delivered
        with api_client(daemon) as api:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"kind": "NodeStatusUpdated", "labels": {"node": "p1"},
                        "data": {"node": "p1", "node_status": {"agent": str(n)}}}
                r = api.post("/api/node/event", json=body)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    acked.append(r.json()["id"])
                else:
                    assert r.status_code == 503 and r.headers["Retry-After"]
                time.sleep(0.01)

    thread = threading.Thread(target=source, daemon=True)
    thread.start()
    posting = threading.Thread(target=poster, daemon=True)
    posting.start()
    live = None
    try:
        before = _last_id(daemon)
        live = RawStream(str(daemon.paths.api_socket), EVENTS + "?filter=ObjectStatusUpdated")
        live.read_headers()
        bus = daemon.subsystem_pid("bus")
        os.kill(bus, signal.SIGKILL)
        wait_for(lambda: _journal_stats(zctx, daemon)["bus_missed"] > 0, timeout=30, what="journal sees the gap")
        gap = _journal_gap(live)
        assert gap["cause"] == "bus_gap" and gap["missed"] > 0
        resumed = RawStream(str(daemon.paths.api_socket), EVENTS + "?filter=ObjectStatusUpdated",
                            headers={"Last-Event-ID": str(before)})
        resumed.read_headers()
        again = _journal_gap(resumed)
        assert again["_id"] == gap["_id"] and again["missed"] == gap["missed"]
        resumed.close()
        # Resuming from the gap's id: it is not told twice.
        after = RawStream(str(daemon.paths.api_socket), EVENTS + "?limit=3",
                          headers={"Last-Event-ID": str(gap["_id"])})
        after.read_headers()
        assert all(ev.id > gap["_id"] and ev.kind != "SubscriptionError" for ev in after.events(3, 15))
        after.close()
        # Every POST answered 200 around the kill is delivered to a client resuming from before it.
        wait_for(lambda: len(acked) > 5 and acked[-1] > gap["_id"], timeout=20, what="POSTs after the restart")
        top = acked[-1]
        everything = RawStream(str(daemon.paths.api_socket), EVENTS + "?filter=NodeStatusUpdated",
                               headers={"Last-Event-ID": str(before)})
        everything.read_headers()
        delivered = set()
        for ev in everything.iter_events(timeout=15):
            delivered.add(ev.id)
            if ev.id >= top:
                break
        everything.close()
        assert set(a for a in acked if a <= top) <= delivered, set(acked) - delivered
    finally:
        stop.set()
        thread.join(5)
        posting.join(15)
        if live is not None:
            live.close()
        pub.close()
    assert statuses and set(statuses) <= {200, 503}, statuses
    with api_client(daemon) as api:
        metrics = api.get("/metrics").text
    assert 'omd_gateway_journal_gaps_total{cause="bus_gap"}' in metrics
    missed = [line for line in metrics.splitlines() if line.startswith("omd_journal_bus_gaps_total ")]
    assert missed and float(missed[0].split()[1]) > 0


def test_dropped_messages_become_gaps_and_metrics(daemon, zctx):
    """A publisher whose seqs jump (what a flooded bus drops): gap events on streams, the
    journal's missed count and the gateway's gap counters above 0."""
    stream = RawStream(str(daemon.paths.api_socket), EVENTS + "?filter=NodeStatsUpdated")
    stream.read_headers()
    sock = zctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(daemon.endpoint("in"))
        wait_for(lambda: sock.poll(200) and sock.recv() == b"\x01", timeout=10, what="a subscription")
        labels = {"node": "n1"}
        data = b'{"labels":{"node":"n1"},"node":"n1","node_stats":{"score":1}}'
        for seq in (1, 2, 1000, 1001, 5000):
            meta = json.dumps({"at": AT, "origin": "n1", "pub": "flood:1:x", "seq": seq}).encode()
            sock.send_multipart([encode_topic("NodeStatsUpdated", labels), meta, data])
        gap = _journal_gap(stream)
        assert gap["cause"] == "bus_gap" and gap["missed"] >= 997
        wait_for(lambda: _journal_stats(zctx, daemon)["bus_missed"] == 997 + 3998, timeout=10, what="missed count")
        with api_client(daemon) as api:
            metrics = api.get("/metrics").text
        assert "omd_journal_bus_gaps_total 4995.0" in metrics
        gaps = [line for line in metrics.splitlines() if line.startswith("omd_gateway_gaps_total ")]
        assert gaps and float(gaps[0].split()[1]) >= 1
    finally:
        sock.close(linger=0)
        stream.close()
