"""The journal subsystem: numbers every bus event, keeps the recent ones and the current state.

It subscribes to everything on the bus and gives each event the node's next event id (an
unsigned 64-bit integer, strictly increasing, also across restarts: ids are reserved in
blocks recorded in `var/lib/omd/journal/idbase` before use). It keeps:

- a ring of the last `[gateway] ring_size` events, for resumes by Last-Event-ID;
- the compacted log (omd.model.state), for replay and the cluster dataset. Each state change is
  appended to `var/lib/omd/journal/state.log` as it happens (a kill -9 loses none); the log
  is compacted into `state.json` when it grows past twice the state.

It lives in its own process so that the HTTP gateway can die and restart without losing a
single event: streams resume from the journal's ring. Its own death (like the bus's) is a
gap, reported to resuming clients.

Internal protocol (unix sockets under var/run/omd, owner-only). Events travel as packed
*records*, built once here so the gateway does no per-event decoding:

    record := u64 id | u32 len(topic) | u32 len(frame) | u32 data_offset | topic | frame

`frame` is the event's complete SSE frame (`event:`, `id:`, `time:`, `data:` lines and the
blank line); the data JSON is `frame[data_offset:-2]`. All integers are little-endian.

- `journal-out.sock` (PUB): one message per batch of events, a single frame of records.
- `journal.sock` (ROUTER): requests `[b"", reqid, command, *args]`, replies
  `[b"", reqid, status, *fields]`:
  - `since <id>` -> `events <last> <records>`, or `gap <first> <last>` when events after
    `<id>` are no longer (or never were) in the ring;
  - `snapshot` -> `snapshot <last> <records>`: the compacted log sorted by id, consistent
    with `<last>` (every event after it is or will be on journal-out);
  - `stats` -> `stats <json>`.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog
import zmq

from omd.daemon import readiness
from omd.model import sse
from omd.config import Config
from omd.paths import Paths
from omd.sockets import Subscriber
from omd.model.state import CompactedLog

if TYPE_CHECKING:
    from omd.daemon.runtime import Runtime

log = structlog.get_logger()
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: pyzmq converts enum flags on every call

_encode_row = msgspec.json.encode  # a state-log line; several times faster than json.dumps
ID_BLOCK = 1_000_000
RECORD_HEADER = struct.Struct("<QIII")


def pack_record(eid: int, kind: str, topic: bytes, at: str, data: bytes) -> bytes:
    """One packed record (see the module docstring)."""
    head = sse.head(kind, eid, at)
    frame = head + data + b"\n\n"
    return RECORD_HEADER.pack(eid, len(topic), len(frame), len(head)) + topic + frame


def unpack_records(buf: bytes) -> list[tuple[int, bytes, bytes, int]]:
    """Split packed records into (id, topic, frame, data_offset) tuples."""
    out = []
    pos, end, unpack, size = 0, len(buf), RECORD_HEADER.unpack_from, RECORD_HEADER.size
    while pos < end:
        eid, tlen, flen, doff = unpack(buf, pos)
        pos += size
        topic = buf[pos:pos + tlen]
        pos += tlen
        out.append((eid, topic, buf[pos:pos + flen], doff))
        pos += flen
    return out


def journal_out(paths: Paths) -> str:
    """Endpoint of the journal's event stream."""
    return paths.endpoint(paths.run / "journal-out.sock")


def journal_req(paths: Paths) -> str:
    """Endpoint of the journal's request socket."""
    return paths.endpoint(paths.run / "journal.sock")


def _meta_at(meta: bytes) -> str:
    value = json.loads(meta).get("at", "")
    return value if isinstance(value, str) else ""


class IdAllocator:
    """Strictly increasing ids that survive restarts: blocks are reserved on disk before use."""

    def __init__(self, path: Path, block: int = ID_BLOCK) -> None:
        self.path = path
        self.block = block
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            reserved = int(path.read_text().strip() or 1)
        except (FileNotFoundError, ValueError):
            reserved = 1
        self.next = max(reserved, 1)
        self.limit = self.next
        self._reserve()
        self.first = self.next

    def _reserve(self) -> None:
        self.limit = self.next + self.block
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"{self.limit}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def take(self) -> int:
        """The next id."""
        if self.next >= self.limit:
            self._reserve()
        value = self.next
        self.next += 1
        return value

    @property
    def last(self) -> int:
        """The last id handed out (first - 1 when none yet)."""
        return self.next - 1


class Journal:
    """The journal's state and request handling, independent of sockets (unit-testable)."""

    def __init__(self, paths: Paths, ring_size: int) -> None:
        self.dir = paths.lib / "journal"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ids = IdAllocator(self.dir / "idbase")
        self.ring: deque[tuple[int, bytes]] = deque(maxlen=ring_size)  # (id, packed record)
        self.state_file = self.dir / "state.json"
        self.log_file = self.dir / "state.log"
        self.state = self._load_state()
        self.log_lines = 0
        self.compact()
        self._log = open(self.log_file, "ab", buffering=0)
        self._pending: list[bytes] = []
        self.count = 0

    def _load_state(self) -> CompactedLog:
        try:
            rows = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            rows = []
        except (OSError, ValueError) as exc:
            log.error("journal_state_unreadable", file=str(self.state_file), error=str(exc))
            rows = []
        try:
            with open(self.log_file, "rb") as f:
                for line in f:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:  # a line cut by a crash: the rest is unreliable
                        break
        except FileNotFoundError:
            pass
        return CompactedLog.load(rows)

    def compact(self) -> None:
        """Write the whole state to state.json and empty state.log (atomic rename first)."""
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state.dump()))
        os.replace(tmp, self.state_file)
        with open(self.log_file, "wb"):
            pass
        self.log_lines = 0

    def record(self, kind: str, topic: bytes, meta: bytes, data: bytes, at: str) -> bytes:
        """Number an event, keep it in the ring and fold it into the state; its packed record.

        State changes are written to the state log's buffer; `flush()` writes them before
        the batch is published, so nothing anyone has seen is missing from the state after a
        crash.
        """
        eid = self.ids.take()
        record = pack_record(eid, kind, topic, at, data)
        self.ring.append((eid, record))
        self.count += 1
        try:
            changed = self.state.apply(eid, kind, topic, meta, data)
        except (ValueError, TypeError, AttributeError) as exc:  # malformed data of a state kind
            log.warning("journal_state_skip", kind=kind, error=str(exc))
            return record
        if changed:
            self._pending.append(_encode_row([eid, kind, topic.decode(errors="replace"),
                                              meta.decode(errors="replace"),
                                              data.decode(errors="replace")]) + b"\n")
        return record

    def flush(self) -> None:
        """Write the pending state-log lines (one write per batch); compact when it grew."""
        if not self._pending:
            return
        self._log.write(b"".join(self._pending))
        self.log_lines += len(self._pending)
        self._pending.clear()
        if self.log_lines > max(1000, 2 * len(self.state)):
            self._log.close()
            self.compact()
            self._log = open(self.log_file, "ab", buffering=0)

    def close(self) -> None:
        """Flush, compact and close the state log."""
        self.flush()
        self._log.close()
        self.compact()

    def since(self, after: int) -> list[bytes]:
        """Reply fields for `since`: the ring after `after`, or a gap."""
        last = self.ids.last
        first = self.ring[0][0] if self.ring else last + 1
        if after > last or after < first - 1:
            return [b"gap", str(first).encode(), str(last).encode()]
        start = after + 1 - first  # ring ids are contiguous
        ring = self.ring
        return [b"events", str(last).encode(), b"".join(ring[i][1] for i in range(start, len(ring)))]

    def snapshot(self) -> list[bytes]:
        """Reply fields for `snapshot`: the compacted log and the id it is consistent with."""
        records = []
        for e in self.state.entries():
            try:
                at = _meta_at(e.meta)
            except (ValueError, TypeError):
                at = ""
            records.append(pack_record(e.id, e.kind, e.topic, at, e.data))
        return [b"snapshot", str(self.ids.last).encode(), b"".join(records)]

    def stats(self) -> dict[str, int]:
        """Counters for `stats` and the logs."""
        return {"events": self.count, "first_id": self.ring[0][0] if self.ring else self.ids.last + 1,
                "last_id": self.ids.last, "ring": len(self.ring), "state": len(self.state),
                "incarnation_first_id": self.ids.first}


def run(rt: "Runtime") -> int:
    """Subsystem entry point."""
    return serve(rt.config, rt.paths)


def serve(config: Config, paths: Paths) -> int:
    """Number, keep and serve bus events until SIGTERM/SIGINT."""
    journal = Journal(paths, config.gateway.ring_size)
    ctx = zmq.Context()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    old_umask = os.umask(0o077)
    try:
        out = ctx.socket(zmq.PUB)
        out.setsockopt(zmq.LINGER, 0)
        out.setsockopt(zmq.SNDHWM, 200_000)
        out.bind(journal_out(paths))
        req = ctx.socket(zmq.ROUTER)
        req.setsockopt(zmq.LINGER, 0)
        req.bind(journal_req(paths))
    finally:
        os.umask(old_umask)
    sub = Subscriber(ctx, paths.endpoint(paths.bus_out), topics=[b""], rcvhwm=500_000)
    poller = zmq.Poller()
    poller.register(sub.sock, zmq.POLLIN)
    poller.register(req, zmq.POLLIN)
    log.info("journal_started", first_id=journal.ids.first, state=len(journal.state))
    readiness.ready()
    sock = sub.sock
    try:
        while not stop.is_set():
            events = dict(poller.poll(200))
            sub.resubscribe_if_reconnected()
            if sock in events:
                batch = []
                for _ in range(1000):  # bounded batch so requests are served too
                    try:
                        frames = sock.recv_multipart(_NOBLOCK)
                    except zmq.Again:
                        break
                    msg = sub.check(frames)
                    if msg is not None:
                        batch.append(journal.record(msg.kind, frames[0], frames[1], msg.data, msg.meta.at))
                if batch:
                    journal.flush()
                    out.send(b"".join(batch))
            if req in events:
                while True:
                    try:
                        frames = req.recv_multipart(_NOBLOCK)
                    except zmq.Again:
                        break
                    req.send_multipart(_serve(journal, frames))
    finally:
        journal.close()
        sub.close()
        out.close(linger=0)
        req.close(linger=0)
        ctx.term()
        for name in ("journal-out.sock", "journal.sock"):
            try:
                (paths.run / name).unlink()
            except FileNotFoundError:
                pass
        log.info("journal_stopped", **journal.stats())
    return 0


def _serve(journal: Journal, frames: list[bytes]) -> list[bytes]:
    """Answer one request; a malformed one gets an `error` reply, never an exception."""
    ident = frames[0]
    try:
        _, reqid, command, *args = frames[1:] if frames[1] == b"" else [b"", *frames[1:]]
    except ValueError:
        return [ident, b"", b"", b"error", b"malformed request"]
    try:
        if command == b"since":
            body = journal.since(int(args[0]))
        elif command == b"snapshot":
            body = journal.snapshot()
        elif command == b"stats":
            body = [b"stats", json.dumps(journal.stats()).encode()]
        else:
            body = [b"error", b"unknown command " + command[:40]]
    except (IndexError, ValueError):
        body = [b"error", b"bad arguments"]
    return [ident, b"", reqid, *body]
