"""The gateway's link to the journal: live numbered events in, requests for resume and replay.

`Feed` reads the journal's event stream through `AsyncJournalClient` (omd.subsystems.journal.
protocol), as `FeedEvent`s whose SSE frame the journal built once and every stream shares,
and hands batches to the registered streams (`Feed.dispatch`). Ids from the journal are
contiguous: when the feed sees one missing (the gateway fell behind, or just started) it
fetches the missing range with a `since` request; when the journal cannot provide it
(journal restart) every stream is told of the gap and ends, so its client resumes and gets
an explicit gap and a replay.

The journal's notices (records of kind SubscriptionError with labels source=journal: bus
loss, a disk that fails or works again) are handed to every stream, whatever its filters,
as gap events in id order; `not_durable` tells the API to answer writes with 503
(`Feed.durable`).

Each record carries the publisher id and seq of its event, so the API can wait until the
journal holds what it published (`Feed.journaled`) and answer with the event's id.

The reader tasks are supervised: one that dies (a bug) is reported to `on_task_died`, and
the gateway exits non-zero so the supervisor restarts it, rather than answering HTTP while
delivering nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import msgspec
import structlog
import zmq.asyncio

from omd.errors import OmdError
from omd.paths import Paths
from omd.subsystems.journal.protocol import AsyncJournalClient, Events, Record, RecordError

if TYPE_CHECKING:
    from omd.subsystems.gateway.streams import Stream

log = structlog.get_logger()


def label(topic: bytes, key: bytes) -> str | None:
    """The value of label `key` in a topic frame, or None (no full decode of the topic)."""
    needle = b"\0" + key + b"="
    start = topic.find(needle)
    if start < 0:
        return None
    start += len(needle)
    return topic[start:topic.index(b"\0", start)].decode()


@dataclass(slots=True)
class FeedEvent(Record):
    """A journal record as the gateway serves it, with the labels streams select on."""

    namespace: str | None = None
    path: str | None = None
    notice: dict[str, Any] | None = None  # a journal notice's data (see `is_notice`)

    def __post_init__(self) -> None:
        self.namespace = label(self.topic, b"namespace")
        self.path = label(self.topic, b"path")
        if self.kind == "SubscriptionError" and not self.pub and label(self.topic, b"source") == "journal":
            # The journal's loss or durability notice (it refuses bus events that carry this label).
            try:
                value = msgspec.json.decode(self.data)
            except msgspec.DecodeError:
                value = None
            self.notice = value if isinstance(value, dict) else {"cause": "bus_gap", "error": "events were lost"}

    @property
    def is_gap(self) -> bool:
        """A journal notice that clients must see as a gap (not the `durable` one)."""
        return self.notice is not None and self.notice.get("cause") != "durable"


class Feed:
    """Journal client: live dispatch to streams, request/reply, and publish acknowledgements."""

    def __init__(self, ctx: zmq.asyncio.Context, paths: Paths,
                 on_task_died: Callable[[str, BaseException], None] | None = None,
                 timeout: float = 5.0) -> None:
        self.journal = AsyncJournalClient(ctx, paths, timeout=timeout, record_type=FeedEvent,
                                          on_task_died=self._task_died)
        self.on_task_died = on_task_died
        from omd import filters

        self.streams: set["Stream"] = set()
        self.bank = filters.MatcherBank()
        self._by_handle: dict[int, "Stream"] = {}
        self.last_id: int | None = None
        self.stats: Counter[str] = Counter()
        self.events_in: Counter[str] = Counter()
        self.ack_pub = ""  # the publisher whose events `journaled` waits for
        self._acks: dict[tuple[str, int], asyncio.Future[int]] = {}
        # The journal's durability as its notices tell it: None when durable, else
        # (first id not durable, reason). The stats reply sets it at start.
        self.not_durable: tuple[int, str] | None = None
        self._health_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the (supervised) reader tasks."""
        self.journal.start()
        self.journal.spawn(self._read_live(), "read_live")
        self._refresh_health()

    def _refresh_health(self) -> None:
        self._health_task = asyncio.get_running_loop().create_task(self._read_health())

    async def _read_health(self) -> None:
        """Whether the journal is durable, for a gateway started while it was not, or a
        journal that restarted (changes within one incarnation come as notices)."""
        try:
            stats = await self.journal.stats()
        except OmdError:
            return
        if stats.get("durable") is False:
            if self.not_durable is None:
                self.not_durable = (int(stats.get("last_id") or 0), str(stats.get("disk_error") or "not durable"))
        elif stats.get("durable") is True:
            self.not_durable = None

    def durable(self, eid: int) -> bool:
        """Whether the journal wrote event `eid` (or its state change) to disk, as far as
        the notices dispatched so far say."""
        return self.not_durable is None or eid < self.not_durable[0]

    async def close(self) -> None:
        """Stop the tasks and close the sockets."""
        await self.journal.close()

    def _task_died(self, name: str, error: BaseException) -> None:
        log.error("gateway_task_died", task=name, error=repr(error))
        if self.on_task_died is not None:
            self.on_task_died(name, error)

    async def journaled(self, kind: str, seq: int, timeout: float) -> int:
        """The id the journal gave event (`ack_pub`, kind, seq); TimeoutError after `timeout`.

        Call it right after publishing, with no await in between: the event cannot have been
        dispatched yet, so its record is seen here.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        key = (kind, seq)
        self._acks[key] = future
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._acks.pop(key, None)

    async def _read_live(self) -> None:
        journal = self.journal
        while True:
            buf = await journal.recv_live()
            try:
                events = journal.records(buf)
            except RecordError as exc:  # a journal bug: drop the batch, the id check catches up
                self.stats["bad_batches"] += 1
                log.warning("gateway_feed_bad_batch", error=str(exc))
                continue
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
        journal = self.journal
        try:
            reply = await journal.since(after)
            if not isinstance(reply, Events):
                self._refresh_health()  # another journal incarnation, maybe another disk state
                first = reply.first
                self.stats["gaps"] += 1
                log.warning("gateway_feed_gap", after=after, journal_first=first, seen=seen)
                for stream in list(self.streams):
                    if stream.fence is None or stream.fence < first - 1:
                        stream.lost(f"the journal no longer holds events {after + 1}..{first - 1}")
                reply = await journal.since(first - 1)
        except OmdError:  # unavailable, refused or malformed: like a gap
            reply = None
        if isinstance(reply, Events):
            missed = [e for e in reply.records if e.id < seen]
            self.stats["catch_up"] += 1
            if missed:
                self.dispatch(missed)
        else:
            for stream in list(self.streams):
                stream.lost("the journal did not answer a catch-up request")
        self.last_id = seen - 1

    def _notice(self, ev: FeedEvent) -> None:
        notice = ev.notice or {}
        cause = notice.get("cause")
        self.stats[f"notices.{cause}"] += 1
        if cause == "not_durable":
            since = notice.get("since")
            self.not_durable = (since if isinstance(since, int) else ev.id, str(notice.get("error", "")))
        elif cause == "durable":
            self.not_durable = None
        log.warning("gateway_journal_notice", id=ev.id, cause=cause, error=notice.get("error"))

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
        notices = False
        for ev in events:
            counts[ev.kind] += 1
            if ev.notice is not None:
                notices = True
                self._notice(ev)
        if self._acks:
            acks, mine = self._acks, self.ack_pub
            for ev in events:
                if ev.pub == mine:
                    future = acks.pop((ev.kind, ev.seq), None)
                    if future is not None and not future.done():
                        future.set_result(ev.id)
        if not self._by_handle:
            return
        touched: set["Stream"] = set()
        if not notices:
            self._match(events, touched)
        else:  # every stream gets the gaps, whatever its filters, in id order among the events
            run: list[FeedEvent] = []
            for ev in events:
                if ev.notice is None:
                    run.append(ev)
                    continue
                self._match(run, touched)
                run = []
                if ev.is_gap:
                    for stream in list(self.streams):
                        stream.push_notice(ev)
                        touched.add(stream)
            self._match(run, touched)
        for stream in touched:
            stream.pushed()

    def _match(self, events: list[FeedEvent], touched: set["Stream"]) -> None:
        if not events:
            return
        pairs = self.bank.match_pairs([(ev.topic, ev.data) for ev in events])
        by_handle = self._by_handle
        for i in range(0, len(pairs), 2):
            stream = by_handle.get(pairs[i + 1])
            if stream is not None:
                stream.push(events[pairs[i]])
                touched.add(stream)
