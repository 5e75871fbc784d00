"""The bus socket helpers of omd.sockets on real zmq sockets over ipc, around a throwaway bus.

The bus here is libzmq's own proxy (zmq.proxy between an XSUB and an XPUB, in a thread) with a
sentinel subscribed to READY_TOPIC, which is all omd's bus process is; no omd component is
replaced by a mock.
"""

from __future__ import annotations

import threading
from typing import Iterator

import pytest
import zmq
from structlog.testing import capture_logs

from omd.model.events import InstanceStatusUpdated, NodeStatsUpdated
from omd.model.wire import encode_meta, encode_topic, topic_prefix
from omd.sockets import READY_TOPIC, Publisher, Subscriber
from tests.helpers import wait_for

KINDS = ["NodeStatsUpdated", "InstanceStatusUpdated", "DaemonStatusUpdated", "ObjectStatusUpdated",
         "NodeStatusUpdated", "InstanceMonitorUpdated", "HeartbeatAlive", "ClientSubscribed"]


class ThrowawayBus:
    """XSUB (bus-in) <-> XPUB (bus-out) over ipc, proxied by libzmq in a thread, like omd's bus."""

    def __init__(self, directory) -> None:
        self.bus_in = f"ipc://{directory}/bus-in"
        self.bus_out = f"ipc://{directory}/bus-out"
        self.ctx = zmq.Context()
        xsub, xpub = self.ctx.socket(zmq.XSUB), self.ctx.socket(zmq.XPUB)
        for sock in (xsub, xpub):
            sock.setsockopt(zmq.LINGER, 0)
        xsub.bind(self.bus_in)
        xpub.bind(self.bus_out)
        xpub.bind("inproc://ready")
        # The bus's own subscription to the topic nobody publishes: the ready handshake.
        self.sentinel = self.ctx.socket(zmq.SUB)
        self.sentinel.setsockopt(zmq.LINGER, 0)
        self.sentinel.setsockopt(zmq.SUBSCRIBE, READY_TOPIC)
        self.sentinel.connect("inproc://ready")
        self.thread = threading.Thread(target=self._proxy, args=(xsub, xpub), daemon=True)
        self.thread.start()

    @staticmethod
    def _proxy(xsub: zmq.Socket, xpub: zmq.Socket) -> None:
        try:
            zmq.proxy(xsub, xpub)
        except zmq.ZMQError:
            pass  # ETERM: the context is terminating
        finally:
            xsub.close(linger=0)
            xpub.close(linger=0)

    def stop(self) -> None:
        """End the proxy and its sockets."""
        self.sentinel.close(linger=0)
        self.ctx.term()  # the proxy gets ETERM and closes its sockets
        self.thread.join(5)


@pytest.fixture
def bus(tmp_path) -> Iterator[ThrowawayBus]:
    """A running throwaway bus under tmp_path, stopped at teardown."""
    b = ThrowawayBus(tmp_path)
    yield b
    b.stop()


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    """The test's own context (the publisher's and subscriber's side), destroyed at teardown."""
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def _confirmed(ctx, bus, sub: Subscriber) -> Subscriber:
    """`sub` once its subscriptions are known in force at the bus (probe handshake)."""
    helper = Publisher(ctx, bus.bus_in, "test", "probe")
    try:
        assert helper.wait_subscription(sub.probe(), 10), "probe never reached the publisher"
    finally:
        helper.close(linger_ms=0)
    return sub


def _raw_sender(ctx, bus) -> zmq.Socket:
    """An XPUB on bus-in that has done the ready handshake by hand, to send arbitrary frames."""
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(bus.bus_in)
    seen = set()
    wait_for(lambda: (sock.poll(50) and seen.add(sock.recv())) or b"\x01" + READY_TOPIC in seen,
             what="READY_TOPIC at the raw sender")
    return sock


def _drain(sub: Subscriber, count: int, timeout: float = 5.0) -> list:
    msgs = []
    while len(msgs) < count:
        msg = sub.recv(timeout=timeout)
        assert msg is not None, f"received only {len(msgs)} of {count}"
        msgs.append(msg)
    return msgs


# ------------------------------------------------------------------ ready handshake, probe

def test_fresh_publisher_loses_none_of_its_first_events(ctx, bus):
    """A publisher that publishes at once after connecting loses none of its first events."""
    sub = _confirmed(ctx, bus, Subscriber(ctx, bus.bus_out, topics=[topic_prefix(k) for k in KINDS]))
    for round_ in range(3):  # three fresh publishers, each delivers everything from seq 1
        pub = Publisher(ctx, bus.bus_in, "n1", f"fresh{round_}")
        for i in range(50):
            assert pub.publish(NodeStatsUpdated(node="n1", labels={"i": str(i)}))
            # The kind whose subscription the bus sent last before READY_TOPIC, every time.
            assert pub.publish_raw("ObjectStatusUpdated", {"path": "p"}, b'{"labels":{"path":"p"}}')
        got = _drain(sub, 100)
        assert [m.meta.seq for m in got if m.kind == "NodeStatsUpdated"] == list(range(1, 51))
        assert [m.meta.seq for m in got if m.kind == "ObjectStatusUpdated"] == list(range(1, 51))
        assert {m.meta.pub for m in got} == {pub.pub_id}
        pub.close(linger_ms=0)
    assert sub.stats["gaps"] == 0
    sub.close()


def test_publisher_without_a_bus_is_not_ready_and_says_so(ctx, tmp_path):
    """With no bus at its endpoint a publisher is not ready: publish returns False and logs."""
    pub = Publisher(ctx, f"ipc://{tmp_path}/nobody", "n1", "lonely")
    assert not pub.wait_ready(0.2)
    with capture_logs() as logs:
        assert pub.publish(NodeStatsUpdated(node="n1"), ready_timeout=0.2) is False
    assert [e["event"] for e in logs] == ["bus_not_ready"]
    pub.close(linger_ms=0)


def test_wait_subscription_returns_once_the_probe_and_the_topics_before_it_are_in_force(ctx, bus):
    """wait_subscription(probe) is True once the probe arrives, and the topics subscribed before it
    are then in force; a probe nobody subscribed times out False."""
    pub = Publisher(ctx, bus.bus_in, "n1", "prober")
    assert pub.wait_ready(5)
    sub = Subscriber(ctx, bus.bus_out, topics=[topic_prefix(k) for k in KINDS])
    probe = sub.probe()
    assert pub.wait_subscription(probe, 10)
    assert {topic_prefix(k) for k in KINDS} <= pub.subscriptions
    for kind in KINDS:  # each published right away is received: no subscription is still in flight
        assert pub.publish_raw(kind, {"k": kind}, b'{"labels":{"k":"%s"}}' % kind.encode())
    assert sorted(m.kind for m in _drain(sub, len(KINDS))) == sorted(KINDS)
    assert pub.wait_subscription(b"\xffomd.probe.never-subscribed", 0.2) is False
    sub.close()
    pub.close(linger_ms=0)


# ------------------------------------------------------------------ malformed frames

GOOD_META = encode_meta("n1", "raw:1:x", 1)
MALFORMED = {
    "frame_count": [b"NodeStatsUpdated\0", GOOD_META],
    "topic": [b"NodeStatsUpdated\0nolabel\0", GOOD_META, b"{}"],
    "unknown_kind": [b"NoSuchKind\0", GOOD_META, b"{}"],
    "meta": [b"NodeStatsUpdated\0", b'{"at":"x"}', b"{}"],
    "data": [b"NodeStatsUpdated\0", GOOD_META, b"[1,2]"],
}


def test_malformed_frames_are_dropped_counted_per_cause_and_logged_once(ctx, bus):
    """Each malformed frame kind is dropped with its cause counted and logged once; good ones pass."""
    sub = _confirmed(ctx, bus, Subscriber(ctx, bus.bus_out, topics=[b""]))
    raw = _raw_sender(ctx, bus)
    seq = 0
    with capture_logs() as logs:
        for _ in range(3):
            for frames in MALFORMED.values():
                raw.send_multipart(frames)
            seq += 1  # a good message after each round proves the loop goes on
            raw.send_multipart([encode_topic("NodeStatsUpdated", {"node": "n1"}),
                                encode_meta("n1", "raw:good", seq), b'{"labels":{"node":"n1"}}'])
        got = _drain(sub, 3)
    assert [m.meta.seq for m in got] == [1, 2, 3]
    assert {cause: sub.stats[f"dropped.{cause}"] for cause in MALFORMED} == {c: 3 for c in MALFORMED}
    assert sub.stats["received"] == 3
    dropped = [e for e in logs if e["event"] == "bus_frame_dropped"]
    assert sorted(e["cause"] for e in dropped) == sorted(MALFORMED)  # once per cause, not per frame
    assert all(e["log_level"] == "warning" and e["error"].startswith(e["cause"]) for e in dropped)
    raw.close()
    sub.close()


def test_schema_invalid_data_is_dropped_by_a_validating_subscriber(ctx, bus):
    """With validate=True, data that does not fit the kind's schema is dropped with cause `data`."""
    sub = _confirmed(ctx, bus, Subscriber(ctx, bus.bus_out, topics=[topic_prefix("InstanceStatusUpdated")],
                                          validate=True))
    pub = Publisher(ctx, bus.bus_in, "n1", "validating")
    with capture_logs() as logs:
        assert pub.publish_raw("InstanceStatusUpdated", {"path": "p"}, b'{"labels":{"path":"p"},"path":5}')
        assert pub.publish(InstanceStatusUpdated(path="p", node="n1", labels={"path": "p"}))
        got = _drain(sub, 1)
    assert got[0].meta.seq == 2 and got[0].event().path == "p"
    assert sub.stats["dropped.data"] == 1
    assert [(e["event"], e["cause"]) for e in logs if e["event"] == "bus_frame_dropped"] == [
        ("bus_frame_dropped", "data")]
    sub.close()
    pub.close(linger_ms=0)


# ------------------------------------------------------------------ seq gaps

def _send(raw: zmq.Socket, kind: str, pub: str, seq: int) -> None:
    raw.send_multipart([encode_topic(kind, {"node": "n1"}), encode_meta("n1", pub, seq),
                        b'{"labels":{"node":"n1"}}'])


def test_seq_gaps_are_detected_per_publisher_and_kind(ctx, bus):
    """A gap in (publisher, kind) is counted and reported with the number missed; other kinds,
    other publishers, a restarted publisher (new pub id, seq from 1) and a repeat are not gaps."""
    gaps: list[tuple[str, str, int]] = []
    sub = _confirmed(ctx, bus, Subscriber(ctx, bus.bus_out, topics=[b""],
                                          on_gap=lambda pub, kind, missed: gaps.append((pub, kind, missed))))
    raw = _raw_sender(ctx, bus)
    sends = [
        ("NodeStatsUpdated", "a:1:x", 1), ("NodeStatsUpdated", "a:1:x", 2),
        ("NodeStatusUpdated", "a:1:x", 1),            # its own counter: not a gap after seq 2
        ("NodeStatsUpdated", "b:2:y", 1),             # another publisher: not a gap
        ("NodeStatsUpdated", "a:1:x", 5),             # 3 and 4 missed
        ("NodeStatusUpdated", "a:1:x", 2),
        ("NodeStatsUpdated", "a:3:z", 1),             # restarted publisher, new id: not a gap
        ("NodeStatsUpdated", "a:1:x", 6),
        ("NodeStatusUpdated", "a:1:x", 12),           # 3..11 missed
        ("NodeStatsUpdated", "b:2:y", 1),             # a repeat: nothing was missed
    ]
    with capture_logs() as logs:
        for kind, pub, seq in sends:
            _send(raw, kind, pub, seq)
        _drain(sub, len(sends))
    assert gaps == [("a:1:x", "NodeStatsUpdated", 2), ("a:1:x", "NodeStatusUpdated", 9)]
    assert sub.stats["gaps"] == 11
    warned = [(e["pub"], e["kind"], e["missed"], e["after"], e["got"]) for e in logs if e["event"] == "bus_seq_gap"]
    assert warned == [("a:1:x", "NodeStatsUpdated", 2, 2, 5), ("a:1:x", "NodeStatusUpdated", 9, 2, 12)]
    raw.close()
    sub.close()


def test_restarted_real_publisher_is_not_a_gap(ctx, bus):
    """A Publisher made again under the same name gets a new pub id: its seq 1 is not a gap."""
    sub = _confirmed(ctx, bus, Subscriber(ctx, bus.bus_out, topics=[topic_prefix("NodeStatsUpdated")]))
    first = Publisher(ctx, bus.bus_in, "n1", "nmon")
    for _ in range(3):
        assert first.publish(NodeStatsUpdated(node="n1"))
    first.close(linger_ms=0)
    again = Publisher(ctx, bus.bus_in, "n1", "nmon")
    assert again.pub_id != first.pub_id and again.pub_id.startswith("nmon:")
    assert again.publish(NodeStatsUpdated(node="n1"))
    got = _drain(sub, 4)
    assert [(m.meta.pub, m.meta.seq) for m in got] == [(first.pub_id, 1), (first.pub_id, 2), (first.pub_id, 3),
                                                       (again.pub_id, 1)]
    assert sub.stats["gaps"] == 0
    sub.close()
    again.close(linger_ms=0)


# ------------------------------------------------------------------ renew_subscriptions

def test_renew_subscriptions_resends_every_topic_and_never_cancels_one(ctx, tmp_path):
    """renew_subscriptions sends each topic upstream again and no unsubscription at all.

    The upstream end is an XPUB with XPUB_VERBOSER, which passes on every subscribe and
    unsubscribe message it gets, so a moment of not being subscribed could not go unseen.
    """
    upstream = ctx.socket(zmq.XPUB)
    upstream.setsockopt(zmq.LINGER, 0)
    upstream.setsockopt(zmq.XPUB_VERBOSER, 1)
    endpoint = f"ipc://{tmp_path}/upstream"
    upstream.bind(endpoint)
    topics = [topic_prefix(k) for k in KINDS[:4]]
    sub = Subscriber(ctx, endpoint, topics=topics)

    def read_all(expected: int) -> list[bytes]:
        got: list[bytes] = []
        wait_for(lambda: (upstream.poll(50) and got.append(upstream.recv())) or len(got) >= expected,
                 what=f"{expected} subscription messages")
        while upstream.poll(100):  # anything more (an unsubscription) would follow at once
            got.append(upstream.recv())
        return got

    # On connect the SUB sends what it holds in its trie's (sorted) order.
    assert sorted(read_all(len(topics))) == sorted(b"\x01" + t for t in topics)
    for _ in range(3):
        sub.renew_subscriptions()
    renewed = read_all(3 * len(topics))
    assert renewed == [b"\x01" + t for t in topics] * 3, renewed
    assert sub.topics == topics
    sub.close()
    upstream.close()
