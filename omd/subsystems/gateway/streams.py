"""One SSE stream: its filters, its bounded queue, its resume/replay start and its writer.

A stream registers with the feed *before* it asks the journal for its starting point, so
live events queue up meanwhile; the journal's reply says which id it is consistent with
(the fence) and queued events up to the fence are skipped. That is how replay and resume
lose nothing and duplicate nothing.

A stream whose client does not keep up fills its queue: crossing half and 90% of it
publishes SubscriptionQueueThreshold; overflowing sends the client a SubscriptionError gap
event and closes the stream. The client resumes with Last-Event-ID. Other streams and the
bus never wait for a slow client: the feed only appends to queues.
"""

from __future__ import annotations

import asyncio
import fnmatch
import uuid
from collections import deque
from typing import Any, Callable

import msgspec
from aiohttp import web

from omd.model.events import KINDS, REPLAY_ON_REQUEST, SubscriptionError, SubscriptionQueueThreshold
from omd.model.wire import encode_topic, rfc3339_ns
from omd.model import sse
from omd.subsystems.gateway.auth import Principal
from omd.subsystems.gateway.feed import Feed, FeedEvent, label
from omd.subsystems.journal.protocol import Events

PRIVATE_KINDS = frozenset(name for name, info in KINDS.items() if info.private)

_json = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode

# Replay labels: upstream marks InstanceConfig/Monitor/Status replays with source=cache and
# the other kinds with from=cache; omd sets from=cache on all and keeps source=cache too.
_SOURCE_CACHE = {"InstanceConfigUpdated", "InstanceMonitorUpdated", "InstanceStatusUpdated"}
WRITE_BATCH = 512


class Stream:
    """One client's event stream (see the module docstring)."""

    def __init__(self, feed: Feed, principal: Principal, matcher: Any, kinds: frozenset[str] | None,
                 selector: list[str], limit: int, queue_size: int, name: str,
                 publish: Callable[[Any, dict[str, str]], None], keepalive: float,
                 metrics: Any) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.feed = feed
        self.principal = principal
        self.matcher = matcher
        self.kinds = kinds
        self.selector = selector
        self.limit = limit
        self.queue_size = queue_size
        self.name = name
        self.publish = publish
        self.keepalive = keepalive
        self.metrics = metrics
        self.queue: deque[FeedEvent] = deque()
        self.wake = asyncio.Event()
        self.fence: int | None = None
        self.overflowed = False
        self.lost_reason: str | None = None
        self.stopping = False
        self.written = 0
        self.handle = -1  # set by Feed.add
        self._marks_at = {queue_size * 50 // 100, queue_size * 90 // 100}
        self._mark = 0  # last queue threshold crossed, in percent

    # ------------------------------------------------------------------ selection

    def visible(self, namespace: str | None, path: str | None, kind: str = "") -> bool:
        """Namespace grants, private kinds and the object selector."""
        if not self.principal.can_see(namespace):
            return False
        if kind in PRIVATE_KINDS and not self.principal.sees_all:
            return False
        if self.selector and path is not None:
            return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.selector)
        return True

    def wants(self, ev: FeedEvent) -> bool:
        """True when `ev` passes this stream's filters, grants and selector."""
        if self.kinds is not None and ev.kind not in self.kinds:
            return False
        return self.visible(ev.namespace, ev.path, ev.kind) and self.matcher.match(ev.topic, ev.data)

    # ------------------------------------------------------------------ feed side

    def push(self, ev: FeedEvent) -> None:
        """Queue one live event the bank matched; never blocks (called by the feed)."""
        if self.overflowed or self.lost_reason or not self.visible(ev.namespace, ev.path, ev.kind):
            return
        depth = len(self.queue)
        if depth >= self.queue_size:
            self.overflowed = True
            self.queue.clear()
            self.metrics.drops["overflow"] += 1
            self.feed.remove(self)
            return
        self.queue.append(ev)
        if depth + 1 in self._marks_at:  # crossing 50% or 90% upward, however big the batch
            self._thresholds()

    def push_notice(self, ev: FeedEvent) -> None:
        """Queue a journal gap notice (every stream gets it, whatever its filters)."""
        if self.overflowed or self.lost_reason:
            return
        self.queue.append(ev)

    def notice_frame(self, ev: FeedEvent) -> bytes:
        """The gap event a journal notice becomes on this stream: a SubscriptionError with the
        notice's id (a client resuming after it does not get it again) and labels source=journal."""
        notice = ev.notice or {}
        err = SubscriptionError(id=self.id, name=self.name, error=str(notice.get("error", "events were lost")))
        obj = msgspec.to_builtins(err)
        obj = {"labels": {"source": "journal"}, **{k: v for k, v in obj.items() if k != "labels"},
               "cause": notice.get("cause", "")}
        for key in ("missed", "since"):
            if isinstance(notice.get(key), int):
                obj[key] = notice[key]
        self.metrics.gaps += 1
        self.metrics.journal_gaps[str(notice.get("cause", ""))] += 1
        return sse.frame("SubscriptionError", ev.id, ev.at, _encode(obj))

    def pushed(self) -> None:
        """After a batch: publish queue thresholds and wake the writer."""
        self._thresholds()
        self.wake.set()

    def lost(self, reason: str, stopping: bool = False) -> None:
        """The feed lost events this stream may have wanted: end it with a gap event. With
        `stopping` (a clean gateway stop or restart) nothing is lost: the queue is written out,
        then sse.stop_comment says why the stream ends and the client resumes after its last id."""
        self.lost_reason = reason
        self.stopping = stopping
        self.feed.remove(self)
        self.wake.set()

    def _thresholds(self) -> None:
        depth = len(self.queue) * 100 // self.queue_size
        mark = 90 if depth >= 90 else 50 if depth >= 50 else 0 if depth < 10 else self._mark
        if mark != self._mark:
            level = "warn" if mark == 90 else "info"
            self.publish(SubscriptionQueueThreshold(ID=self.id, name=self.name, count=len(self.queue),
                                                    from_=self._mark, to=mark, limit=self.queue_size),
                         {"counter": "", "level": level})
            self._mark = mark

    # ------------------------------------------------------------------ start

    async def start_events(self, last_event_id: int | None, replay: bool) -> tuple[list[bytes], str]:
        """The frames to send before live events, and how the stream started.

        Returns (frames, start) where start is "live", "resume", "replay" or "gap".
        """
        frames: list[bytes] = []
        start = "live"
        if last_event_id is not None:
            reply = await self.feed.journal.since(last_event_id)
            if isinstance(reply, Events):
                self.fence = reply.last
                frames = [self.notice_frame(ev) if ev.notice is not None else ev.frame
                          for ev in reply.records if (ev.is_gap if ev.notice is not None else self.wants(ev))]
                return frames, "resume"
            first, last = reply.first, reply.last
            frames.append(self.gap_frame(
                f"events after id {last_event_id} are not available (the journal holds ids "
                f"{first}..{last}); the current state follows", last_event_id, first))
            start, replay = "gap", True
        if replay:
            snapshot = await self.feed.journal.snapshot()
            self.fence = snapshot.last
            for ev in snapshot.records:
                if not self._replayable(ev.kind):
                    continue
                cached = self._as_cached(ev)
                if self.wants(cached):
                    frames.append(cached.frame)
            start = "gap" if start == "gap" else "replay"
        return frames, start

    def _replayable(self, kind: str) -> bool:
        info = KINDS.get(kind)
        if info is None or not info.replay:
            return False
        if kind in REPLAY_ON_REQUEST:
            return self.kinds is not None and kind in self.kinds
        return True

    @staticmethod
    def _as_cached(ev: FeedEvent) -> FeedEvent:
        obj = _json.decode(ev.data)
        labels = dict(obj.get("labels") or {})
        labels["from"] = "cache"
        if ev.kind in _SOURCE_CACHE:
            labels["source"] = "cache"
        obj["labels"] = labels
        data = _encode(obj)
        topic = encode_topic(ev.kind, labels)
        head = sse.head(ev.kind, ev.id, ev.at)
        return FeedEvent(ev.id, ev.kind, topic, head + data + b"\n\n", len(head), ev.pub, ev.seq)

    def gap_frame(self, reason: str, after: int | None = None, first: int | None = None) -> bytes:
        ev = SubscriptionError(id=self.id, name=self.name, error=reason)
        if after is not None:
            ev.gap_after = after
        if first is not None:
            ev.gap_resume_from = first
        self.metrics.gaps += 1
        # No id: a gap event must not move the client's resume position.
        return sse.frame("SubscriptionError", None, rfc3339_ns(), _encode(ev))

    # ------------------------------------------------------------------ writer

    async def write(self, resp: web.StreamResponse, frames: list[bytes]) -> None:
        """Send the start frames, then live events until the limit, overflow or a gap."""
        if frames:
            if self.limit:
                frames = frames[: self.limit]
            await resp.write(b"".join(frames))
            self.written += sum(1 for f in frames if b"\nid: " in f)
            self.metrics.count_out(frames)
            if self.limit and self.written >= self.limit:
                return
        queue, fence = self.queue, self.fence
        while True:
            if not queue and not self.overflowed and not self.lost_reason:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.keepalive)
                except asyncio.TimeoutError:
                    await resp.write(sse.KEEPALIVE)
                    continue
            if self.overflowed:
                await resp.write(self.gap_frame(
                    f"the client fell {self.queue_size} events behind: stream closed, "
                    f"resume with Last-Event-ID"))
                return
            if self.lost_reason and not queue:
                if self.stopping:
                    await resp.write(sse.stop_comment(self.lost_reason))
                    return
                await resp.write(self.gap_frame(self.lost_reason + "; resume with Last-Event-ID"))
                return
            batch = []
            while queue and len(batch) < WRITE_BATCH:
                ev = queue.popleft()
                if fence is not None and ev.id <= fence:
                    continue
                batch.append(self.notice_frame(ev) if ev.notice is not None else ev.frame)
                if self.limit and self.written + len(batch) >= self.limit:
                    break
            if self._mark and len(queue) * 100 // self.queue_size < 10:
                self._thresholds()
            if batch:
                await resp.write(b"".join(batch))
                self.written += len(batch)
                self.metrics.count_out(batch)
                if self.limit and self.written >= self.limit:
                    return


def selector_patterns(values: list[str]) -> list[str]:
    """Object path globs from `selector` parameters (comma-separated lists allowed)."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


__all__ = ["Stream", "selector_patterns", "label"]
