"""The journal: its ring, its state files, and its protocol served on real sockets to real clients."""

from __future__ import annotations

import json
import threading
from typing import Iterator

import pytest
import structlog
import zmq

from omd.model.wire import encode_meta, encode_topic
from omd.paths import Paths
from omd.sockets import READY_TOPIC, Publisher
from omd.model.events import NodeStatsUpdated
from omd.subsystems.journal import Journal, serve
from omd.subsystems.journal.protocol import (JOURNAL_TOPIC, Events, Gap, JournalClient, JournalRefused,
                                             JournalUnavailable, Record, journal_req, pack_record,
                                             unpack_records)
from tests.helpers import wait_for


@pytest.fixture
def paths(run_paths: Paths) -> Paths:
    """The Paths of a fresh short root (unix socket paths are limited in length)."""
    return run_paths


def _event(journal: Journal, node: str, score: int = 0, origin: str = "n1", pub: str = "test:1",
           seq: int = 1, kind: str = "NodeStatsUpdated") -> bytes:
    """Record one state event (NodeStatsUpdated of `node` by default); its packed record."""
    labels = {"node": node}
    topic = encode_topic(kind, labels)
    data = json.dumps({"labels": labels, "node": node, "node_stats": {"score": score}},
                      separators=(",", ":")).encode()
    at = "2026-01-01T00:00:00.000000000Z"
    return journal.record(kind, topic, encode_meta(origin, pub, seq, at), data, at, pub, seq)


# ---------------------------------------------------------------------- records


def test_record_roundtrip_keeps_every_field():
    """pack_record/unpack_records keep id, kind, topic, frame, data offset, pub and seq."""
    topic = encode_topic("NodeStatsUpdated", {"node": "a"})
    data = b'{"labels":{"node":"a"},"node":"a"}'
    buf = pack_record(7, "NodeStatsUpdated", topic, "T", data, b"nmon:1:x", 42) * 2
    records = unpack_records(buf)
    assert len(records) == 2
    r = records[0]
    assert (r.id, r.kind, r.topic, r.pub, r.seq) == (7, "NodeStatsUpdated", topic, "nmon:1:x", 42)
    assert r.data == data and r.labels == {"node": "a"} and r.at == "T"
    assert r.frame == b"event: NodeStatsUpdated\nid: 7\ntime: T\ndata: " + data + b"\n\n"


def test_truncated_records_raise_a_record_error():
    """A cut buffer of records is a RecordError (an OmdError), never a struct error or IndexError."""
    from omd.subsystems.journal.protocol import RecordError

    buf = pack_record(1, "NodeStatsUpdated", b"NodeStatsUpdated\0", "T", b"{}", b"p", 1)
    for cut in (3, 30, len(buf) - 1):
        with pytest.raises(RecordError):
            unpack_records(buf[:cut])


# ---------------------------------------------------------------------- ring


def test_since_at_the_edges_of_the_ring(paths):
    """`since` answers events for first-1..last, a gap before first-1 or after last."""
    journal = Journal(paths, ring_size=5)
    base = journal.ids.first
    for i in range(8):
        _event(journal, f"n{i}", seq=i + 1)
    first, last = base + 3, base + 7
    assert [i for i, _ in journal.ring] == list(range(first, last + 1))

    def ids(after: int) -> list[int]:
        reply = journal.since(after)
        assert not isinstance(reply, Gap), f"since {after}: {reply}"
        assert reply[0] == last
        return [r.id for r in unpack_records(reply[1])]

    assert ids(first - 1) == list(range(first, last + 1))
    assert ids(first) == list(range(first + 1, last + 1))
    assert ids(last) == []
    assert journal.since(first - 2) == Gap(first, last)
    assert journal.since(last + 1) == Gap(first, last)
    assert journal.since(last + 10**12) == Gap(first, last)
    journal.close()


def test_ring_is_bounded_in_bytes_too(paths):
    """`ring_max_bytes` drops the oldest events first, keeps ids contiguous (a resume before
    them is a gap) and always keeps the newest event, whatever its size."""
    journal = Journal(paths, ring_size=1000, ring_max_bytes=4096)
    base = journal.ids.first
    for i in range(40):
        _event(journal, f"n{i}", seq=i + 1)
    ids = [i for i, _ in journal.ring]
    assert ids == list(range(ids[0], base + 40)) and 1 < len(ids) < 40
    assert journal.ring_bytes == sum(len(r) for _, r in journal.ring) <= 4096
    assert isinstance(journal.since(base), Gap) and not isinstance(journal.since(ids[0] - 1), Gap)
    assert journal.stats()["ring_bytes"] == journal.ring_bytes
    journal.ring_max_bytes = 10  # smaller than any event: the newest stays
    _event(journal, "big", seq=41)
    assert [i for i, _ in journal.ring] == [base + 40]
    journal.close()


def test_since_on_an_empty_ring(paths):
    """With no event yet, `since` the last id is an empty answer and anything else a gap."""
    (paths.lib / "journal").mkdir(parents=True)
    (paths.lib / "journal" / "idbase").write_text("5000\n")  # a journal that ran before
    journal = Journal(paths, ring_size=5)
    assert (journal.ids.first, journal.ids.last) == (5000, 4999)
    assert journal.since(4999) == (4999, b"")
    assert journal.since(5000) == Gap(5000, 4999)
    assert journal.since(0) == Gap(5000, 4999)
    journal.close()


# ---------------------------------------------------------------------- state files


def _state_rows(journal: Journal) -> list[list]:
    return journal.state.dump()


def test_state_log_cut_by_a_crash_keeps_the_rows_before(paths):
    """A last state.log line cut short (kill -9 mid-write) is skipped and reported; earlier rows load."""
    journal = Journal(paths, ring_size=10)
    _event(journal, "a")
    _event(journal, "b")
    journal.flush()
    journal._log.close()  # a crash: no compaction
    with open(journal.log_file, "ab") as f:
        f.write(b'[99,"NodeStatsUpdated","NodeStatsUpdated\\u0000node=c\\u0000","{}","{\\"no')
    with structlog.testing.capture_logs() as logs:
        again = Journal(paths, ring_size=10)
    assert sorted(e.obj["node"] for e in again.state.entries()) == ["a", "b"]
    assert [e["event"] for e in logs if e["log_level"] != "info"] == ["journal_state_log_truncated"]
    again.close()


def test_bad_line_in_the_middle_is_skipped_and_later_rows_kept(paths):
    """A line that does not parse (or is not a row) in the middle is reported; rows after it load."""
    journal = Journal(paths, ring_size=10)
    _event(journal, "a")
    journal.flush()
    with open(journal.log_file, "ab") as f:
        f.write(b"garbage\n[1, 2]\n")
    _event(journal, "b")
    journal.flush()
    journal._log.close()
    with structlog.testing.capture_logs() as logs:
        again = Journal(paths, ring_size=10)
    assert sorted(e.obj["node"] for e in again.state.entries()) == ["a", "b"]
    bad = [e for e in logs if e["event"] == "journal_state_log_bad_lines"]
    assert bad and bad[0]["lines"] == [2, 3] and bad[0]["count"] == 2
    again.close()


def test_compaction_rewrites_state_json_and_empties_the_log(paths):
    """Past its threshold the log is compacted: state.json holds the same state, state.log is empty."""
    journal = Journal(paths, ring_size=10)
    for i in range(501):  # the 1002nd log line for a state of 3 is past max(1000, 2 * 3)
        _event(journal, f"n{i % 3}", score=i)
        _event(journal, f"n{i % 3}", score=i)
        journal.flush()
    assert journal.log_lines == 0 and journal.log_file.stat().st_size == 0
    assert json.loads(journal.state_file.read_text()) == _state_rows(journal)
    assert len(_state_rows(journal)) == 3
    _event(journal, "n0", score=-1)  # one more change, in the log only
    journal.flush()
    assert journal.log_lines == 1
    expected = _state_rows(journal)
    journal._log.close()  # a crash after the compaction: state.json plus the log's tail
    again = Journal(paths, ring_size=10)
    assert _state_rows(again) == expected
    assert again.log_file.stat().st_size == 0  # compacted at start
    assert json.loads(again.state_file.read_text()) == expected
    again.close()


# ---------------------------------------------------------------------- served on real sockets


class _Served:
    """A bus (XSUB/XPUB proxy like omd.subsystems.bus) and a Journal's serve loop in threads."""

    def __init__(self, paths: Paths, journal: Journal) -> None:
        self.paths = paths
        self.journal = journal
        self.ctx = zmq.Context()
        xsub = self.ctx.socket(zmq.XSUB)
        xpub = self.ctx.socket(zmq.XPUB)
        for s in (xsub, xpub):
            s.setsockopt(zmq.LINGER, 0)
        xsub.bind(paths.endpoint(paths.bus_in))
        xpub.bind(paths.endpoint(paths.bus_out))
        xpub.bind("inproc://bus-out")
        self.sentinel = self.ctx.socket(zmq.SUB)
        self.sentinel.setsockopt(zmq.LINGER, 0)
        self.sentinel.setsockopt(zmq.SUBSCRIBE, READY_TOPIC)
        self.sentinel.connect("inproc://bus-out")
        self.proxy = threading.Thread(target=self._proxy, args=(xsub, xpub), daemon=True)
        self.proxy.start()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.loop = threading.Thread(target=serve, args=(journal, self.ctx, paths, self.stop, self.ready.set),
                                     daemon=True)
        self.loop.start()
        assert self.ready.wait(10)

    @staticmethod
    def _proxy(xsub: zmq.Socket, xpub: zmq.Socket) -> None:
        try:
            zmq.proxy(xsub, xpub)
        except zmq.ZMQError:
            pass
        finally:
            xsub.close(linger=0)
            xpub.close(linger=0)

    def close(self) -> None:
        self.stop.set()
        self.loop.join(10)
        self.sentinel.close(linger=0)
        self.ctx.term()
        self.proxy.join(10)
        self.journal.close()


@pytest.fixture
def served(paths) -> Iterator[_Served]:
    """A journal served on real sockets (with a bus), stopped at teardown."""
    s = _Served(paths, Journal(paths, ring_size=100, nodename="n1"))
    yield s
    s.close()


@pytest.fixture
def client(served) -> Iterator[JournalClient]:
    """A JournalClient of the served journal."""
    ctx = zmq.Context()
    c = JournalClient(ctx, served.paths, timeout=5)
    yield c
    c.close()
    ctx.term()


def test_client_snapshot_equals_what_was_journaled(served, client, zctx):
    """Events published on the bus are journaled; the client's snapshot holds exactly them, with pub and seq."""
    pub = Publisher(zctx, served.paths.endpoint(served.paths.bus_in), "n1", "test")
    try:
        assert pub.wait_ready(10)
        for node, score in (("a", 1), ("b", 2), ("a", 3)):
            ev = NodeStatsUpdated(node=node, labels={"node": node})
            ev.node_stats.score = score
            pub.publish(ev)
        wait_for(lambda: client.stats()["events"] >= 3, what="events journaled")
    finally:
        pub.close(linger_ms=0)
    snap = client.snapshot()
    entries = served.journal.state.entries()
    assert snap.last == served.journal.ids.last and snap.first_id == served.journal.ids.first
    assert [(r.id, r.kind, r.topic, r.data) for r in snap.records] == \
        [(e.id, e.kind, e.topic, e.data) for e in entries]
    assert [(r.labels["node"], json.loads(r.data)["node_stats"]["score"]) for r in snap.records] == \
        [("b", 2), ("a", 3)]
    assert [(r.pub, r.seq) for r in snap.records] == [(pub.pub_id, 2), (pub.pub_id, 3)]
    since = client.since(snap.records[0].id - 1)
    assert isinstance(since, Events) and [r.id for r in since.records] == [r.id for r in snap.records]
    assert isinstance(since.records[0], Record)


def test_seen_reports_journaled_seqs_per_kind(served, client, zctx):
    """`seen <pub>` gives the last journaled seq of each kind of that publisher, {} for a stranger."""
    pub = Publisher(zctx, served.paths.endpoint(served.paths.bus_in), "n1", "test")
    try:
        assert pub.wait_ready(10)
        # The journal's incarnation topic is subscribed: a publisher sees the journal join.
        topic = JOURNAL_TOPIC + str(served.journal.ids.first).encode()
        assert pub.wait_subscription(topic, 10)
        for i in range(3):
            pub.publish(NodeStatsUpdated(node="a", labels={"node": "a"}))
        from omd.model.events import Log

        pub.publish(Log(message="hello", level="info", subsystem="test"))
        assert wait_for(lambda: client.seen(pub.pub_id) == {"NodeStatsUpdated": 3, "Log": 1},
                        what="seqs journaled")
    finally:
        pub.close(linger_ms=0)
    assert client.seen("nobody:1:x") == {}


def _loaded_journal(paths: Paths) -> None:
    """A previous incarnation that journaled n1's stats of a, b and c, and n2's of d; closed."""
    old = Journal(paths, ring_size=10, nodename="n1")
    for node in "abc":
        _event(old, node, origin="n1")
    _event(old, "d", origin="n2")
    _event(old, "n1", origin="n1", kind="NodeStatusUpdated")
    old.close()


def test_resynced_drops_stale_loaded_entries_of_this_node(paths, zctx):
    """`resynced` drops the loaded, not replaced, entries of the kinds from this node, and persists it."""
    _loaded_journal(paths)
    served = _Served(paths, Journal(paths, ring_size=10, nodename="n1"))
    ctx = zmq.Context()
    client = JournalClient(ctx, paths, timeout=5)
    pub = Publisher(zctx, paths.endpoint(paths.bus_in), "n1", "nmon")
    try:
        assert pub.wait_ready(10)
        pub.publish(NodeStatsUpdated(node="b", labels={"node": "b"}))  # the source republished b
        wait_for(lambda: client.seen(pub.pub_id) == {"NodeStatsUpdated": 1}, what="b journaled")
        assert client.resynced(["NodeStatsUpdated"]) == 2  # a and c; b replaced, d is n2's
        kinds = sorted((r.kind, r.labels["node"]) for r in client.snapshot().records)
        assert kinds == [("NodeStatsUpdated", "b"), ("NodeStatsUpdated", "d"), ("NodeStatusUpdated", "n1")]
        assert client.resynced(["NodeStatsUpdated"]) == 0  # idempotent
        with pytest.raises(JournalRefused, match="not a state kind"):
            client.resynced(["Log"])
        with pytest.raises(JournalRefused, match="not a state kind"):
            client.resynced(["NoSuchKind"])
    finally:
        pub.close(linger_ms=0)
        client.close()
        ctx.term()
        served.close()
    again = Journal(paths, ring_size=10, nodename="n1")  # the drop survived a restart
    assert sorted(e.obj["node"] for e in again.state.entries(["NodeStatsUpdated"])) == ["b", "d"]
    again.close()


def test_malformed_requests_get_error_replies_and_the_loop_goes_on(served, client, zctx):
    """Unknown commands, bad arguments and stray frames are answered `error`; the journal keeps serving."""
    sock = zctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(journal_req(served.paths))
    for request in ([b"", b"1", b"nope"], [b"", b"2", b"since", b"x"], [b"", b"3", b"since"],
                    [b"", b"4", b"seen", b"\xff"], [b"", b"5", b"snapshot", b"extra"], [b"x"]):
        sock.send_multipart(request)
        assert sock.poll(5000), request
        reply = sock.recv_multipart()
        assert reply[2] == b"error", (request, reply)
    sock.close(linger=0)
    assert client.stats()["events"] >= 0


def test_client_without_journal_is_unavailable(paths):
    """With no journal running, requests raise JournalUnavailable at once (no socket file)."""
    ctx = zmq.Context()
    c = JournalClient(ctx, paths, timeout=5)
    try:
        with pytest.raises(JournalUnavailable, match="not running"):
            c.snapshot()
        (paths.run / "journal.sock").touch()  # a stale socket file: nobody answers
        c.timeout = 0.2
        with pytest.raises(JournalUnavailable, match="did not answer"):
            c.seen("x")
    finally:
        c.close()
        ctx.term()
