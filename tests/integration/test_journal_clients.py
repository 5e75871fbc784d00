"""The journal's clients on a real daemon: omon's snapshot, streams when the journal stalls,
and API posts answered only once journaled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import httpx
import pytest
import structlog

from omd import config as configmod
from omd.sockets import Publisher
from omd.subsystems import gateway
from omd.subsystems.gateway.feed import Feed
from omd.subsystems.journal.protocol import JournalClient
from tests.helpers import ready_subscriber, wait_for
from tests.sse import RawStream

CONFIG = """[node]
name = "n1"
[daemon]
watchdog_interval = 0.5
restart_backoff_initial = 0.1
[gateway]
keepalive_interval = 0.3
"""


def _api(daemon) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.paths.api_socket)), base_url="http://omd",
                        timeout=15)


def _wait_api(daemon) -> None:
    def up() -> bool:
        try:
            with _api(daemon) as c:
                return c.get("/metrics").status_code == 200
        except httpx.HTTPError:
            return False
    wait_for(up, timeout=20, what="gateway API")


@pytest.fixture
def node(daemon_factory):
    """A daemon named n1 with its API up."""
    d = daemon_factory(CONFIG)
    _wait_api(d)
    return d


def _log_records(daemon, event: str) -> list[dict]:
    """The daemon's JSON log records named `event` (subsystems log to its stdout)."""
    out = []
    for line in daemon.log().splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            out.append(record)
    return out


def _wait_subscribed(zctx, daemon, topic: bytes) -> None:
    probe = Publisher(zctx, daemon.endpoint("in"), "test", "probe")
    try:
        assert probe.wait_subscription(topic, 15), f"no subscriber for {topic!r}"
    finally:
        probe.close(linger_ms=0)


def _journaled(zctx, daemon, kinds: set[str]) -> bool:
    client = JournalClient(zctx, daemon.paths, timeout=5)
    try:
        return kinds <= {r.kind for r in client.snapshot().records}
    finally:
        client.close()


def _restart_omon(daemon) -> int:
    """kill -9 omon; its new pid once the supervisor says it runs again."""
    old = daemon.subsystem_pid("omon")
    os.kill(old, signal.SIGKILL)

    def running_again():
        omon = daemon.status().get("subsystems", {}).get("omon", {})
        return omon.get("state") == "running" and omon.get("pid") not in (0, old) and omon["pid"]
    return wait_for(running_again, timeout=20, what="omon restarted and running")


def test_omon_restart_loads_the_snapshot_and_republishes_nothing(node, zctx):
    """kill -9 of omon with nothing changed: the new omon loads the snapshot and republishes nothing."""
    _wait_subscribed(zctx, node, b"InstanceStatusPost\0")  # istat
    _wait_subscribed(zctx, node, b"InstanceStatusUpdated\0")  # omon
    sub = ready_subscriber(zctx, node, [b"ObjectStatusUpdated\0", b"ClusterStatusUpdated\0"])
    try:
        (node.paths.etc / "svc1.conf").write_text("")
        with _api(node) as c:
            r = c.post("/api/instance/status", json={"path": "svc1", "instance_status": {
                "avail": "up", "overall": "up", "provisioned": "true"}})
            assert r.status_code == 200, r.text
        msg = sub.recv(timeout=10)
        while msg is not None and msg.kind != "ObjectStatusUpdated":
            msg = sub.recv(timeout=10)
        assert msg is not None and msg.data_obj()["path"] == "svc1"
        wait_for(lambda: _journaled(zctx, node, {"ObjectStatusUpdated"}), what="omon's object status journaled")
        try:
            wait_for(lambda: _journaled(zctx, node, {"ClusterStatusUpdated"}), timeout=3)
        except AssertionError:
            # The journal missed omon's first ClusterStatusUpdated, published as the daemon
            # started, before the journal's subscription was in force (the sources' first
            # events race, fixed separately): one restart makes omon publish it again.
            _restart_omon(node)
            wait_for(lambda: _journaled(zctx, node, {"ClusterStatusUpdated"}), what="cluster status journaled")
        while sub.recv(timeout=0.2) is not None:  # what the set-up published
            pass
        pid = _restart_omon(node)
        started = wait_for(lambda: [r for r in _log_records(node, "omon_started") if r.get("pid") == pid],
                           what="omon_started logged")
        assert started[0]["snapshot"] is True and started[0]["objects"] >= 1, started[0]
        deadline = time.monotonic() + 2.0
        while (left := deadline - time.monotonic()) > 0:
            msg = sub.recv(timeout=left)
            assert msg is None, f"republished {msg.kind}: {msg.data_obj()}"
    finally:
        sub.close()


def test_stream_whose_journal_stalls_ends_with_a_gap_event(node):
    """A replay stream whose journal is stopped gets 200, one gap event and its end; no second status line."""
    journal = node.subsystem_pid("journal")
    os.kill(journal, signal.SIGSTOP)
    stream = None
    try:
        started = time.monotonic()
        stream = RawStream(str(node.paths.api_socket), "/api/node/name/_/daemon/event?replay=true")
        got = stream.events(None, timeout=5 + 5)  # the journal timeout, and a margin
        elapsed = time.monotonic() - started
        assert stream.status == 200
        assert stream.closed, f"the stream did not end within {elapsed:.1f}s: {got}"
        assert b"HTTP/1.1" not in stream.body + stream.raw and all(b"HTTP/1.1" not in e.raw for e in got)
        assert [e.kind for e in got] == ["SubscriptionError"], got
        assert got[0].id is None and "journal" in got[0].data["error"]
        stream.sock.settimeout(5)
        assert stream.sock.recv(1024) == b"", "the connection stays open"  # closed, not kept alive
    finally:
        os.kill(journal, signal.SIGCONT)
        if stream is not None:
            stream.close()


def test_gateway_serve_exits_non_zero_when_a_reader_task_dies(daemon_factory, monkeypatch):
    """A dead feed reader is logged (gateway_task_died) and makes the gateway's serve() return non-zero."""
    # The real bus and journal; the gateway is the one run here, in this process.
    d = daemon_factory(CONFIG.replace("[daemon]\n", '[daemon]\nsubsystems = ["journal"]\n'))
    wait_for(lambda: (d.paths.run / "journal.sock").exists(), what="journal socket")

    def broken(self, events):
        raise RuntimeError("injected dispatch failure")
    monkeypatch.setattr(Feed, "dispatch", broken)  # the first live event (its listener status) kills the reader
    config = configmod.load(d.paths)
    with structlog.testing.capture_logs() as logs:
        code = asyncio.run(asyncio.wait_for(gateway.serve(config, d.paths), 30))
    assert code == gateway.TASK_DIED_EXIT != 0
    died = [r for r in logs if r["event"] == "gateway_task_died"]
    assert died and died[0]["task"] == "read_live" and "injected" in died[0]["error"]
    assert not d.paths.api_socket.exists()  # it stopped serving


def _record_of(zctx, daemon, eid: int):
    """The journal's record with id `eid` (from its ring)."""
    client = JournalClient(zctx, daemon.paths, timeout=5)
    try:
        reply = client.since(eid - 1)
    finally:
        client.close()
    assert not hasattr(reply, "first"), f"id {eid} is not in the ring: {reply}"
    return reply.records[0]


def test_posts_answer_the_id_the_journal_gave_the_event(node, zctx):
    """POST /api/node/event and /api/instance/status answer with the id of the journaled event."""
    with _api(node) as c:
        r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated", "labels": {"node": "x"},
                                            "data": {"node": "x", "node_stats": {"score": 7}}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["kind"] == "NodeStatsUpdated" and isinstance(body["id"], int)
        record = _record_of(zctx, node, body["id"])
        assert (record.id, record.kind, record.labels) == (body["id"], "NodeStatsUpdated", body["labels"])
        assert json.loads(record.data)["node_stats"]["score"] == 7
        (node.paths.etc / "svc9.conf").write_text("")
        r = c.post("/api/instance/status", json={"path": "svc9", "instance_status": {"avail": "up"}})
        assert r.status_code == 200, r.text
        record = _record_of(zctx, node, r.json()["id"])
        assert record.kind == "InstanceStatusPost" and json.loads(record.data)["path"] == "svc9"


def test_post_is_503_until_the_journal_holds_the_event(node, zctx):
    """With the journal stopped, a POST is a 503 "published but not confirmed" after the ack timeout, not a 200."""
    journal = node.subsystem_pid("journal")
    os.kill(journal, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with _api(node) as c:
            r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated", "labels": {"node": "stalled"},
                                                "data": {"node": "stalled"}})
        elapsed = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert "published but its journaling was not confirmed" in r.json()["detail"]
        assert 4.5 < elapsed < 10
    finally:
        os.kill(journal, signal.SIGCONT)

    def journaled() -> bool:
        client = JournalClient(zctx, node.paths, timeout=5)
        try:
            return any(r.labels.get("node") == "stalled" for r in client.snapshot().records)
        finally:
            client.close()
    wait_for(journaled, what="the published event journaled once the journal resumed")
