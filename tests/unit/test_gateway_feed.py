"""The gateway's Feed on real zmq sockets: supervised reader tasks, bad batches, publish acks."""

from __future__ import annotations

import asyncio

import pytest
import structlog
import zmq
import zmq.asyncio

from omd.model.wire import encode_topic
from omd.paths import Paths
from omd.subsystems.gateway.feed import Feed, FeedEvent
from omd.subsystems.journal.protocol import journal_out, pack_record


@pytest.fixture
def paths(run_paths: Paths) -> Paths:
    """The Paths of a fresh short root (unix socket paths are limited in length)."""
    return run_paths


def _record(eid: int, pub: str = "gw:1:x", seq: int = 1, node: str = "a") -> bytes:
    labels = {"node": node, "namespace": "ns1", "path": "ns1/svc/x"}
    data = b'{"labels":{"namespace":"ns1","node":"%s","path":"ns1/svc/x"},"node":"%s"}' % (node.encode(), node.encode())
    return pack_record(eid, "NodeStatsUpdated", encode_topic("NodeStatsUpdated", labels), "T", data, pub.encode(), seq)


async def _with_feed(paths: Paths, body, **kwargs) -> None:
    """Run `body(feed, out)` with a started Feed and a PUB bound where the journal's stream is."""
    ctx = zmq.asyncio.Context()
    out = ctx.socket(zmq.PUB)
    out.setsockopt(zmq.LINGER, 0)
    out.bind(journal_out(paths))
    feed = Feed(ctx, paths, **kwargs)
    feed.start()
    try:
        await body(feed, out)
    finally:
        await feed.close()
        out.close(linger=0)
        ctx.term()


async def _send_until(out: zmq.asyncio.Socket, payload: bytes, done, timeout: float = 5.0) -> None:
    """Publish `payload` until `done()` (a SUB's connection takes a moment: the slow joiner)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "the feed never received the batch"
        await out.send(payload)
        await asyncio.sleep(0.02)


def test_feed_events_carry_labels_pub_and_seq():
    """A FeedEvent is a journal Record with namespace and path read from its topic."""
    from omd.subsystems.journal.protocol import unpack_records

    (ev,) = unpack_records(_record(5, pub="p:1", seq=9), FeedEvent)
    assert (ev.id, ev.kind, ev.pub, ev.seq, ev.namespace, ev.path) == (5, "NodeStatsUpdated", "p:1", 9, "ns1", "ns1/svc/x")
    assert ev.data.startswith(b'{"labels"') and ev.frame.endswith(ev.data + b"\n\n")


def test_a_dying_reader_task_is_reported(paths, monkeypatch):
    """When the live reader raises, `on_task_died` gets its name and error and gateway_task_died is logged."""
    died: list[tuple[str, BaseException]] = []

    async def body(feed: Feed, out) -> None:
        def broken(events):
            raise RuntimeError("injected dispatch failure")
        monkeypatch.setattr(feed, "dispatch", broken)
        await _send_until(out, _record(1), lambda: bool(died))

    with structlog.testing.capture_logs() as logs:
        asyncio.run(_with_feed(paths, body, on_task_died=lambda name, err: died.append((name, err))))
    assert [(name, str(err)) for name, err in died] == [("read_live", "injected dispatch failure")]
    records = [r for r in logs if r["event"] == "gateway_task_died"]
    assert records and records[0]["task"] == "read_live" and "injected" in records[0]["error"]


def test_a_malformed_batch_is_dropped_and_the_reader_goes_on(paths):
    """Bytes that are not packed records are counted and dropped; the next batch is delivered."""
    died: list[str] = []
    got: list[int] = []

    async def body(feed: Feed, out) -> None:
        feed.dispatch = lambda events: got.extend(e.id for e in events)  # type: ignore[method-assign]
        await _send_until(out, b"\x01\x02not records", lambda: feed.stats["bad_batches"] > 0)
        await _send_until(out, _record(1), lambda: bool(got))

    asyncio.run(_with_feed(paths, body, on_task_died=lambda name, err: died.append(name)))
    assert got[0] == 1 and not died


def test_journaled_resolves_with_the_id_of_its_own_publish(paths):
    """`journaled(kind, seq)` answers the id of the record with the feed's publisher and that seq only."""
    async def body(feed: Feed, out) -> None:
        feed.ack_pub = "gw:1:x"
        waiter = asyncio.ensure_future(feed.journaled("NodeStatsUpdated", 2, timeout=5))
        await asyncio.sleep(0)
        # Another publisher's seq 2, and our seq 1, do not answer; our seq 2 does.
        await _send_until(out, _record(10, pub="other:1:y", seq=2) + _record(11, seq=1) + _record(12, seq=2),
                          waiter.done)
        assert waiter.result() == 12
        assert not feed._acks
        with pytest.raises(asyncio.TimeoutError):
            await feed.journaled("NodeStatsUpdated", 3, timeout=0.1)
        assert not feed._acks

    asyncio.run(_with_feed(paths, body))
