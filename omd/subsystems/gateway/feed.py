"""The gateway's link to the journal: live numbered events in, requests for resume and replay.

`Feed` reads the journal's event stream (id, topic, meta, data), turns each event into a
`FeedEvent` whose SSE frame is built once and shared by every stream, and hands batches to
the registered streams (`Feed.dispatch`). Ids from the journal are contiguous: when the feed
sees one missing (the gateway fell behind, or just started) it fetches the missing range with
a `since` request; when the journal cannot provide it (journal restart) every stream is told
of the gap and ends, so its client resumes and gets an explicit gap and a replay.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
import zmq
import zmq.asyncio

from omd.subsystems.journal import journal_out, journal_req, unpack_records
from omd.paths import Paths

if TYPE_CHECKING:
    from omd.subsystems.gateway.streams import Stream

log = structlog.get_logger()
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: pyzmq converts enum flags on every call


def label(topic: bytes, key: bytes) -> str | None:
    """The value of label `key` in a topic frame, or None (no full decode of the topic)."""
    needle = b"\0" + key + b"="
    start = topic.find(needle)
    if start < 0:
        return None
    start += len(needle)
    return topic[start:topic.index(b"\0", start)].decode()


@dataclass(slots=True)
class FeedEvent:
    """One numbered event as the gateway serves it; `frame` is its SSE frame, built by the journal."""

    id: int
    kind: str
    topic: bytes
    data: bytes
    frame: bytes
    namespace: str | None
    path: str | None

    @property
    def at(self) -> str:
        """The publish time, from the frame's `time:` line."""
        start = self.frame.find(b"\ntime: ")
        if start < 0:
            return ""
        start += 7
        return self.frame[start:self.frame.index(b"\n", start)].decode()


def events_from(records: bytes) -> list[FeedEvent]:
    """FeedEvents from the journal's packed records."""
    out = []
    for eid, topic, frame, doff in unpack_records(records):
        nul = topic.find(b"\0")
        if nul <= 0:
            continue
        out.append(FeedEvent(eid, topic[:nul].decode(), topic, frame[doff:-2], frame,
                             label(topic, b"namespace"), label(topic, b"path")))
    return out


class JournalUnavailable(Exception):
    """The journal did not answer in time."""


class Feed:
    """Journal client: live dispatch to streams, and request/reply."""

    def __init__(self, ctx: zmq.asyncio.Context, paths: Paths) -> None:
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 500_000)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(journal_out(paths))
        # A synchronous view of the same socket, to drain what is queued without awaiting.
        self._sub_sync = zmq.Socket.shadow(self.sub.underlying)
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(journal_req(paths))
        from omd import filters

        self.streams: set["Stream"] = set()
        self.bank = filters.MatcherBank()
        self._by_handle: dict[int, "Stream"] = {}
        self.last_id: int | None = None
        self.stats: Counter[str] = Counter()
        self.events_in: Counter[str] = Counter()
        self._pending: dict[bytes, asyncio.Future[list[bytes]]] = {}
        self._reqids = itertools.count(1)
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self) -> None:
        """Start the reader tasks."""
        self._tasks = [asyncio.create_task(self._read_live()), asyncio.create_task(self._read_replies())]

    async def close(self) -> None:
        """Stop the tasks and close the sockets."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.sub.close(linger=0)
        self.dealer.close(linger=0)

    async def request(self, *args: bytes, timeout: float = 5.0) -> list[bytes]:
        """Send a request to the journal and return the reply fields after the request id."""
        reqid = str(next(self._reqids)).encode()
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        self._pending[reqid] = future
        try:
            await self.dealer.send_multipart([b"", reqid, *args])
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise JournalUnavailable("the journal did not answer within %gs" % timeout) from None
        finally:
            self._pending.pop(reqid, None)

    async def _read_replies(self) -> None:
        while True:
            frames = await self.dealer.recv_multipart()
            if len(frames) < 3:
                continue
            future = self._pending.get(frames[1])
            if future is not None and not future.done():
                future.set_result(frames[2:])

    async def _read_live(self) -> None:
        sock, sync = self.sub, self._sub_sync
        while True:
            messages = [await sock.recv()]
            for _ in range(99):  # whatever else is queued: one dispatch for all of it
                try:
                    messages.append(sync.recv(_NOBLOCK))
                except zmq.Again:
                    break
            events = events_from(b"".join(messages))
            if not events:
                continue
            if self.last_id is not None:
                first = events[0].id
                if first <= self.last_id:
                    events = [e for e in events if e.id > self.last_id]
                    if not events:
                        continue
                elif first > self.last_id + 1:
                    await self._catch_up(self.last_id, first)
                    events = [e for e in events if e.id > (self.last_id or 0)]
            self.last_id = events[-1].id
            self.dispatch(events)

    async def _catch_up(self, after: int, seen: int) -> None:
        """Fetch the events between `after` and `seen` from the journal's ring.

        When the journal no longer has them (it restarted, or the gateway fell a whole ring
        behind), the streams that needed them end with a gap event, and whatever the
        journal still holds before `seen` is dispatched to the others.
        """
        try:
            reply = await self.request(b"since", str(after).encode())
        except JournalUnavailable:
            reply = [b"error"]
        if reply[0] == b"gap":
            first = int(reply[1])
            self.stats["gaps"] += 1
            log.warning("gateway_feed_gap", after=after, journal_first=first, seen=seen)
            for stream in list(self.streams):
                if stream.fence is None or stream.fence < first - 1:
                    stream.lost(f"the journal no longer holds events {after + 1}..{first - 1}")
            try:
                reply = await self.request(b"since", str(first - 1).encode())
            except JournalUnavailable:
                reply = [b"error"]
        if reply[0] == b"events":
            missed = [e for e in events_from(reply[2]) if e.id < seen]
            self.stats["catch_up"] += 1
            if missed:
                self.dispatch(missed)
        else:
            for stream in list(self.streams):
                stream.lost("the journal did not answer a catch-up request")
        self.last_id = seen - 1

    def add(self, stream: "Stream") -> None:
        """Start delivering live events to `stream` (its matcher joins the bank)."""
        stream.handle = self.bank.add(stream.matcher)
        self._by_handle[stream.handle] = stream
        self.streams.add(stream)

    def remove(self, stream: "Stream") -> None:
        """Stop delivering to `stream` (idempotent)."""
        if stream in self.streams:
            self.streams.discard(stream)
            del self._by_handle[stream.handle]
            self.bank.remove(stream.handle)

    def dispatch(self, events: list[FeedEvent]) -> None:
        """Hand a batch of live events to the streams whose filters match them.

        One bank call matches the whole batch against every stream's filters (in C when
        built), indexed by kind, so the cost of a stream that asks for other kinds is nil.
        """
        counts = self.events_in
        for ev in events:
            counts[ev.kind] += 1
        if not self._by_handle:
            return
        pairs = self.bank.match_pairs([(ev.topic, ev.data) for ev in events])
        by_handle = self._by_handle
        touched = set()
        for i in range(0, len(pairs), 2):
            stream = by_handle.get(pairs[i + 1])
            if stream is not None:
                stream.push(events[pairs[i]])
                touched.add(stream)
        for stream in touched:
            stream.pushed()
