"""The journal's private protocol, all of it: endpoints, records, requests, replies, clients.

The journal process serves it (`answer`), the gateway's feed (`AsyncJournalClient`) and the
other processes (`JournalClient`: omon, the supervisor, the subsystem runtime, heartbeats,
tests) use it; nothing else writes or reads a frame of it. Sockets are unix sockets under
var/run/omd, owner-only.

Records. Events travel as packed *records*, built once by the journal so that readers do no
per-event decoding:

    record := u64 id | u64 seq | u32 len(pub) | u32 len(topic) | u32 len(frame)
              | u32 data_offset | pub | topic | frame

`frame` is the event's complete SSE frame (`event:`, `id:`, `time:`, `data:` lines and the
blank line); the data JSON is `frame[data_offset:-2]`. `pub` and `seq` are the publisher id
and sequence number of the event's meta frame, so that a publisher can tell which id the
journal gave its event. All integers are little-endian.

- `journal-out.sock` (PUB): one message per batch of events, a single frame of records, sent
  once the batch is journaled (in the ring, and its state changes written to the state log).
- `journal.sock` (ROUTER): requests `[b"", reqid, command, *args]`, replies
  `[b"", reqid, status, *fields]`:
  - `since <id>` -> `events <last> <records>`, or `gap <first> <last>` when events after
    `<id>` are no longer (or never were) in the ring;
  - `snapshot` -> `snapshot <last> <first_id> <records>`: the compacted log sorted by id,
    consistent with `<last>` (every event after it is or will be on journal-out);
    `<first_id>` is the first id of this journal incarnation;
  - `stats` -> `stats <json>`;
  - `seen <pub>` -> `seen <json {kind: seq}>`: the last seq of each kind the journal has
    journaled from publisher `<pub>` ({} for a publisher it never heard);
  - `resynced <kind> [<kind> ...]` -> `resynced <n>`: the state sources of these kinds have
    republished their state, so the entries of these kinds loaded from disk by this
    incarnation, published by this node and not replaced since are stale: they are dropped
    (and the drop persisted); `<n>` is how many;
  - any malformed or refused request -> `error <text>`.

Bus side. The journal subscribes, besides everything, to `JOURNAL_TOPIC + <first_id>` (the
decimal first id of its incarnation), a topic nobody publishes: publishers see it arrive
(XPUB) and know a new journal joined the bus.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, Protocol, TypeVar

import structlog
import zmq
import zmq.asyncio

from omd.errors import OmdError
from omd.model import sse
from omd.model.wire import decode_topic
from omd.paths import Paths
from omd.sockets import JOURNAL_TOPIC

log = structlog.get_logger()
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: pyzmq converts enum flags on every call

OUT_SOCKET = "journal-out.sock"
REQ_SOCKET = "journal.sock"
DEFAULT_TIMEOUT = 5.0
RECORD_HEADER = struct.Struct("<QQIIII")


class JournalError(OmdError):
    """A journal request failed."""


class JournalUnavailable(JournalError):
    """The journal is not running, or did not answer in time."""


class JournalRefused(JournalError):
    """The journal answered a request with an error (a bad or refused request)."""


class RecordError(JournalError):
    """A buffer of packed records is malformed (truncated, or lengths that do not fit)."""


# ---------------------------------------------------------------------- endpoints


def journal_out(paths: Paths) -> str:
    """Endpoint of the journal's event stream."""
    return paths.endpoint(paths.run / OUT_SOCKET)


def journal_req(paths: Paths) -> str:
    """Endpoint of the journal's request socket."""
    return paths.endpoint(paths.run / REQ_SOCKET)


def journal_topic(first_id: int) -> bytes:
    """The bus topic a journal incarnation subscribes to, so publishers see it join."""
    return JOURNAL_TOPIC + str(first_id).encode()


# ---------------------------------------------------------------------- records


@dataclass(slots=True)
class Record:
    """One numbered event as the journal serves it."""

    id: int
    kind: str
    topic: bytes
    frame: bytes
    data_offset: int
    pub: str
    seq: int

    @property
    def data(self) -> bytes:
        """The event's data JSON, exactly as published."""
        return self.frame[self.data_offset:-2]

    @property
    def labels(self) -> dict[str, str]:
        """The labels of the topic frame."""
        return decode_topic(self.topic)[1]

    @property
    def at(self) -> str:
        """The publish time, from the frame's `time:` line."""
        start = self.frame.find(b"\ntime: ")
        if start < 0:
            return ""
        start += 7
        return self.frame[start:self.frame.index(b"\n", start)].decode()


R = TypeVar("R", bound=Record)


def pack_record(eid: int, kind: str, topic: bytes, at: str, data: bytes, pub: bytes, seq: int) -> bytes:
    """One packed record (see the module docstring); `pub` is the publisher id, encoded.

    Raises sse.FrameFieldError when a field or the data holds CR or LF.
    """
    head = sse.head(kind, eid, at)
    if b"\n" in data or b"\r" in data:
        raise sse.FrameFieldError("CR or LF in SSE data")
    frame = head + data + b"\n\n"
    return b"".join((RECORD_HEADER.pack(eid, seq, len(pub), len(topic), len(frame), len(head)),
                     pub, topic, frame))


def unpack_records(buf: bytes, cls: type[R] = Record) -> list[R]:  # type: ignore[assignment]
    """Split packed records into `cls` objects (Record or a subclass with the same fields first).

    Raises RecordError when the buffer is malformed; records whose topic has no kind are
    skipped (the journal never sends them).
    """
    out = []
    pos, end, unpack, size = 0, len(buf), RECORD_HEADER.unpack_from, RECORD_HEADER.size
    try:
        while pos < end:
            eid, seq, plen, tlen, flen, doff = unpack(buf, pos)
            pos += size
            stop = pos + plen + tlen + flen
            if stop > end or doff + 2 > flen:
                raise RecordError(f"record at byte {pos - size} does not fit the buffer")
            pub = buf[pos:pos + plen].decode()
            pos += plen
            topic = buf[pos:pos + tlen]
            pos += tlen
            nul = topic.find(b"\0")
            if nul > 0:
                out.append(cls(eid, topic[:nul].decode(), topic, buf[pos:stop], doff, pub, seq))
            pos = stop
    except (struct.error, UnicodeDecodeError) as exc:
        raise RecordError(f"malformed records: {exc}") from None
    return out


# ---------------------------------------------------------------------- replies


@dataclass(slots=True)
class Events:
    """A `since` reply: the ring's records after the asked id; `last` is the journal's last id."""

    last: int
    records: list[Any]


@dataclass(slots=True)
class Gap:
    """A `since` reply: the ring holds `first..last`, not what was asked."""

    first: int
    last: int


@dataclass(slots=True)
class Snapshot:
    """A `snapshot` reply: the compacted log (records sorted by id), consistent with `last`."""

    last: int
    first_id: int
    records: list[Any]


class Backend(Protocol):
    """What the journal process implements to serve requests (omd.subsystems.journal.Journal)."""

    def since(self, after: int) -> tuple[int, bytes] | Gap:
        """(last id, packed records after `after`) or a Gap."""

    def snapshot(self) -> tuple[int, int, bytes]:
        """(last id, incarnation first id, packed records of the compacted log)."""

    def stats(self) -> dict[str, Any]:
        """Counters."""

    def seen(self, pub: str) -> dict[str, int]:
        """The last journaled seq per kind of publisher `pub`."""

    def resynced(self, kinds: list[str]) -> int:
        """Drop stale loaded entries of `kinds`; how many (ValueError for a refused kind)."""


def answer(backend: Backend, frames: list[bytes]) -> list[bytes]:
    """The ROUTER reply to one request; a malformed or refused one gets `error`, never an exception."""
    ident = frames[0]
    try:
        _, reqid, command, *args = frames[1:] if frames[1:2] == [b""] else [b"", *frames[1:]]
    except ValueError:
        return [ident, b"", b"", b"error", b"malformed request"]
    try:
        if command == b"since":
            (after,) = args
            result = backend.since(int(after))
            if isinstance(result, Gap):
                body = [b"gap", b"%d" % result.first, b"%d" % result.last]
            else:
                body = [b"events", b"%d" % result[0], result[1]]
        elif command == b"snapshot" and not args:
            last, first_id, packed = backend.snapshot()
            body = [b"snapshot", b"%d" % last, b"%d" % first_id, packed]
        elif command == b"stats" and not args:
            body = [b"stats", json.dumps(backend.stats()).encode()]
        elif command == b"seen":
            (pub,) = args
            body = [b"seen", json.dumps(backend.seen(pub.decode())).encode()]
        elif command == b"resynced" and args:
            body = [b"resynced", b"%d" % backend.resynced([a.decode() for a in args])]
        else:
            body = [b"error", b"unknown command or wrong arguments: " + command[:40]]
    except (ValueError, UnicodeDecodeError) as exc:  # also int() and unpacking errors
        body = [b"error", f"bad arguments: {exc}".encode()]
    return [ident, b"", reqid, *body]


def _decode_reply(command: bytes, fields: list[bytes], cls: type[Record]) -> Any:
    """The typed value of a reply's fields (after the request id)."""
    if not fields:
        raise JournalRefused("empty reply")
    status = fields[0]
    try:
        if status == b"error":
            raise JournalRefused((fields[1] if len(fields) > 1 else b"").decode(errors="replace"))
        if command == b"since" and status == b"events":
            return Events(int(fields[1]), unpack_records(fields[2], cls))
        if command == b"since" and status == b"gap":
            return Gap(int(fields[1]), int(fields[2]))
        if command == b"snapshot" and status == b"snapshot":
            return Snapshot(int(fields[1]), int(fields[2]), unpack_records(fields[3], cls))
        if command in (b"stats", b"seen") and status == command:
            value = json.loads(fields[1])
            if isinstance(value, dict):
                return value
        if command == b"resynced" and status == b"resynced":
            return int(fields[1])
    except (IndexError, ValueError) as exc:
        raise JournalRefused(f"malformed {command.decode()} reply: {exc}") from None
    raise JournalRefused(f"unexpected reply {status[:40]!r} to {command.decode()}")


def _request_args(command: str, args: tuple[str | int, ...]) -> list[bytes]:
    return [command.encode(), *(str(a).encode() for a in args)]


# ---------------------------------------------------------------------- sync client


class JournalClient:
    """Synchronous requests to the journal over one DEALER socket (not thread-safe).

    Every request raises JournalUnavailable when the journal is not running or does not
    answer within `timeout` seconds, and JournalRefused when it answers with an error.
    """

    def __init__(self, ctx: zmq.Context, paths: Paths, timeout: float = DEFAULT_TIMEOUT,
                 record_type: type[Record] = Record) -> None:
        self.paths = paths
        self.timeout = timeout
        self.record_type = record_type
        self._reqids = itertools.count(1)
        self._sock = ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.connect(journal_req(paths))

    def _request(self, command: str, *args: str | int) -> Any:
        if not (self.paths.run / REQ_SOCKET).exists():
            raise JournalUnavailable(f"the journal is not running (no {self.paths.run / REQ_SOCKET})")
        reqid = b"%d" % next(self._reqids)
        frames = _request_args(command, args)
        try:
            self._sock.send_multipart([b"", reqid, *frames], _NOBLOCK)
        except zmq.Again:
            raise JournalUnavailable("the journal's request socket is full") from None
        end = time.monotonic() + self.timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self._sock.poll(max(1, int(left * 1000))):
                raise JournalUnavailable(f"the journal did not answer {command!r} within {self.timeout:g}s")
            reply = self._sock.recv_multipart()
            # A late reply to an earlier request that timed out is skipped.
            if len(reply) >= 2 and reply[1] == reqid:
                return _decode_reply(frames[0], reply[2:], self.record_type)

    def snapshot(self) -> Snapshot:
        """The compacted log, the id it is consistent with and the incarnation's first id."""
        return self._request("snapshot")

    def since(self, after: int) -> Events | Gap:
        """The ring's events after id `after`, or a Gap when the ring does not hold them."""
        return self._request("since", after)

    def stats(self) -> dict[str, Any]:
        """The journal's counters (events, first_id, last_id, ring, state, incarnation_first_id)."""
        return self._request("stats")

    def seen(self, pub_id: str) -> dict[str, int]:
        """The last seq of each kind the journal has journaled from publisher `pub_id`."""
        return self._request("seen", pub_id)

    def resynced(self, kinds: list[str]) -> int:
        """Tell the journal the sources of `kinds` republished their state; entries dropped."""
        if not kinds:
            return 0
        return self._request("resynced", *kinds)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close(linger=0)


# ---------------------------------------------------------------------- async client


class AsyncJournalClient:
    """The same requests over zmq.asyncio, plus the live stream of journaled events.

    Replies are read by one task; the tasks started with `spawn` (that one, and the reader
    of the live stream its owner starts) are supervised: when one ends other than by
    cancellation, `on_task_died(name, error)` is called, since nothing would be delivered
    any more while the process goes on answering.
    """

    def __init__(self, ctx: zmq.asyncio.Context, paths: Paths, timeout: float = DEFAULT_TIMEOUT,
                 record_type: type[Record] = Record,
                 on_task_died: Callable[[str, BaseException], None] | None = None) -> None:
        self.timeout = timeout
        self.record_type = record_type
        self.on_task_died = on_task_died
        self.live = ctx.socket(zmq.SUB)
        self.live.setsockopt(zmq.LINGER, 0)
        self.live.setsockopt(zmq.RCVHWM, 500_000)
        self.live.setsockopt(zmq.SUBSCRIBE, b"")
        self.live.connect(journal_out(paths))
        # A synchronous view of the same socket, to drain what is queued without awaiting.
        self._live_sync = zmq.Socket.shadow(self.live.underlying)
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(journal_req(paths))
        self._pending: dict[bytes, asyncio.Future[list[bytes]]] = {}
        self._reqids = itertools.count(1)
        self.tasks: dict[str, asyncio.Task[Any]] = {}

    # ------------------------------------------------------------------ tasks

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as a supervised task (see the class docstring)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self.tasks[name] = task
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        error = task.exception() or RuntimeError(f"task {task.get_name()} returned")
        if self.on_task_died is not None:
            self.on_task_died(task.get_name(), error)
        else:
            log.error("journal_client_task_died", task=task.get_name(), error=repr(error))

    def start(self) -> None:
        """Start the reply reader."""
        self.spawn(self._read_replies(), "read_replies")

    async def close(self) -> None:
        """Cancel the tasks and close the sockets."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.live.close(linger=0)
        self.dealer.close(linger=0)

    # ------------------------------------------------------------------ live stream

    async def recv_live(self, most: int = 100) -> bytes:
        """The packed records of the next live batch and of up to `most - 1` more queued ones."""
        messages = [await self.live.recv(copy=True)]
        sync = self._live_sync
        for _ in range(most - 1):  # whatever else is queued: one dispatch for all of it
            try:
                messages.append(sync.recv(_NOBLOCK))
            except zmq.Again:
                break
        return messages[0] if len(messages) == 1 else b"".join(messages)

    def records(self, buf: bytes) -> list[Any]:
        """Records (of `record_type`) from packed bytes; RecordError when malformed."""
        return unpack_records(buf, self.record_type)

    # ------------------------------------------------------------------ requests

    async def _request(self, command: str, *args: str | int) -> Any:
        reqid = b"%d" % next(self._reqids)
        frames = _request_args(command, args)
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        self._pending[reqid] = future
        try:
            await self.dealer.send_multipart([b"", reqid, *frames])
            reply = await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            raise JournalUnavailable(f"the journal did not answer {command!r} within {self.timeout:g}s") from None
        finally:
            self._pending.pop(reqid, None)
        return _decode_reply(frames[0], reply, self.record_type)

    async def _read_replies(self) -> None:
        while True:
            frames = await self.dealer.recv_multipart()
            if len(frames) < 3:
                continue
            future = self._pending.get(frames[1])
            if future is not None and not future.done():
                future.set_result(frames[2:])

    async def snapshot(self) -> Snapshot:
        """See JournalClient.snapshot."""
        return await self._request("snapshot")

    async def since(self, after: int) -> Events | Gap:
        """See JournalClient.since."""
        return await self._request("since", after)

    async def stats(self) -> dict[str, Any]:
        """See JournalClient.stats."""
        return await self._request("stats")

    async def seen(self, pub_id: str) -> dict[str, int]:
        """See JournalClient.seen."""
        return await self._request("seen", pub_id)

    async def resynced(self, kinds: list[str]) -> int:
        """See JournalClient.resynced."""
        if not kinds:
            return 0
        return await self._request("resynced", *kinds)


__all__ = ["JOURNAL_TOPIC", "AsyncJournalClient", "Events", "Gap", "JournalClient", "JournalError",
           "JournalRefused", "JournalUnavailable", "Record", "RecordError", "Snapshot", "answer",
           "journal_out", "journal_req", "journal_topic", "pack_record", "unpack_records"]
