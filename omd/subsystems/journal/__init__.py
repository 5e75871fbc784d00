"""The journal subsystem: numbers every bus event, keeps the recent ones and the current state.

It subscribes to everything on the bus and gives each event the node's next event id (an
unsigned 64-bit integer, strictly increasing, also across restarts: ids are reserved in
blocks recorded in `var/lib/omd/journal/idbase` before use). It keeps:

- a ring of the last `[gateway] ring_size` events, for resumes by Last-Event-ID;
- the compacted log (omd.model.state), for replay and the cluster dataset. Each state change is
  appended to `var/lib/omd/journal/state.log` before the batch it belongs to is published (a
  kill -9 loses none); the log is compacted into `state.json` when it grows past twice the
  state. At start, a line cut by a crash (the last) or a line that does not parse is
  skipped and reported; the other lines are kept.

It lives in its own process so that the HTTP gateway can die and restart without losing a
single event: streams resume from the journal's ring. Its own death (like the bus's) is a
gap, reported to resuming clients.

Its protocol (the event stream, requests and replies, and the clients) is in
`omd.subsystems.journal.protocol`; this module only serves it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import msgspec
import structlog
import zmq

from omd.daemon import readiness
from omd.model.events import KINDS
from omd.model.state import CompactedLog
from omd.paths import Paths
from omd.sockets import Subscriber
from omd.subsystems.journal.protocol import (OUT_SOCKET, REQ_SOCKET, Gap, answer, journal_out, journal_req,
                                             journal_topic, pack_record)

if TYPE_CHECKING:
    from omd.daemon.runtime import Runtime

log = structlog.get_logger()
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: pyzmq converts enum flags on every call

_encode_row = msgspec.json.encode  # a state-log line; several times faster than json.dumps
ID_BLOCK = 1_000_000
BATCH = 1000  # events numbered per turn of the loop, so requests are served too


class _Meta(msgspec.Struct):
    """The meta fields the journal reads back from stored entries (lenient: rows may be old)."""

    at: str = ""
    origin: str = ""
    pub: str = ""
    seq: int = 0


_decode_meta = msgspec.json.Decoder(_Meta).decode


def _meta(raw: bytes) -> _Meta:
    try:
        return _decode_meta(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Meta()


def _valid_row(row: Any) -> bool:
    """A persisted state row: [id, kind, topic, meta, data]."""
    return (isinstance(row, list) and len(row) == 5 and isinstance(row[0], int)
            and all(isinstance(v, str) for v in row[1:]))


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
    """The journal's state and request handling, independent of sockets (unit-testable).

    `seqs` maps (publisher id, kind) to the last seq journaled; `serve` binds it to its bus
    Subscriber's counters, which are updated for every event before it is numbered.
    """

    def __init__(self, paths: Paths, ring_size: int, nodename: str = "") -> None:
        self.nodename = nodename
        self.dir = paths.lib / "journal"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ids = IdAllocator(self.dir / "idbase")
        self.ring: deque[tuple[int, bytes]] = deque(maxlen=ring_size)  # (id, packed record)
        self.state_file = self.dir / "state.json"
        self.log_file = self.dir / "state.log"
        self.seqs: dict[tuple[str, str], int] = {}
        self.state = self._load_state()
        self.log_lines = 0
        self.compact()
        self._log = open(self.log_file, "ab", buffering=0)
        self._pending: list[bytes] = []
        self.count = 0
        self.confirmed: set[str] = set()  # state kinds resynced in this incarnation

    def _load_state(self) -> CompactedLog:
        rows: list[Any] = []
        try:
            loaded = json.loads(self.state_file.read_text())
            if not isinstance(loaded, list):
                raise ValueError("not a list of rows")
            rows = [row for row in loaded if _valid_row(row)]
            if len(rows) != len(loaded):
                log.error("journal_state_rows_skipped", file=str(self.state_file), skipped=len(loaded) - len(rows))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.error("journal_state_unreadable", file=str(self.state_file), error=str(exc))
        try:
            with open(self.log_file, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            lines = []
        except OSError as exc:
            log.error("journal_state_log_unreadable", file=str(self.log_file), error=str(exc))
            lines = []
        # The text after the last newline is empty, or a line a crash cut short.
        cut = lines.pop() if lines else b""
        bad = []
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if _valid_row(row):
                rows.append(row)
            else:
                bad.append(number)
        if bad:  # each line is a whole event: one bad line loses only that event
            log.error("journal_state_log_bad_lines", file=str(self.log_file), lines=bad[:20], count=len(bad))
        if cut:
            log.warning("journal_state_log_truncated", file=str(self.log_file), line=len(lines) + 1,
                        size=len(cut))
        return CompactedLog.load(rows)

    def compact(self) -> None:
        """Write the whole state to state.json and empty state.log (atomic rename first)."""
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state.dump()))
        os.replace(tmp, self.state_file)
        with open(self.log_file, "wb"):
            pass
        self.log_lines = 0

    def _compact_open(self) -> None:
        """Compact while the state log is open (its pending lines are in the state already)."""
        self._log.close()
        self._pending.clear()
        self.compact()
        self._log = open(self.log_file, "ab", buffering=0)

    def record(self, kind: str, topic: bytes, meta: bytes, data: bytes, at: str, pub: str = "",
               seq: int = 0) -> bytes:
        """Number an event, keep it in the ring and fold it into the state; its packed record.

        State changes are written to the state log's buffer; `flush()` writes them before
        the batch is published, so nothing anyone has seen is missing from the state after a
        crash.
        """
        eid = self.ids.take()
        record = pack_record(eid, kind, topic, at, data, pub.encode(), seq)
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
            self._compact_open()

    def close(self) -> None:
        """Flush, compact and close the state log."""
        self.flush()
        self._log.close()
        self.compact()

    # ------------------------------------------------------------------ requests (protocol.Backend)

    def since(self, after: int) -> tuple[int, bytes] | Gap:
        """(last id, the ring's packed records after `after`), or a Gap."""
        last = self.ids.last
        first = self.ring[0][0] if self.ring else last + 1
        if after > last or after < first - 1:
            return Gap(first, last)
        start = after + 1 - first  # ring ids are contiguous
        ring = self.ring
        return last, b"".join(ring[i][1] for i in range(start, len(ring)))

    def snapshot(self) -> tuple[int, int, bytes]:
        """(last id, incarnation first id, the compacted log packed), consistent with last id."""
        records = []
        for e in self.state.entries():
            meta = _meta(e.meta)
            records.append(pack_record(e.id, e.kind, e.topic, meta.at, e.data, meta.pub.encode(), meta.seq))
        return self.ids.last, self.ids.first, b"".join(records)

    def stats(self) -> dict[str, int]:
        """Counters for `stats` and the logs."""
        return {"events": self.count, "first_id": self.ring[0][0] if self.ring else self.ids.last + 1,
                "last_id": self.ids.last, "ring": len(self.ring), "state": len(self.state),
                "incarnation_first_id": self.ids.first, "confirmed": sorted(self.confirmed)}

    def seen(self, pub: str) -> dict[str, int]:
        """The last seq per kind journaled from publisher `pub` (every received event is
        journaled before a request is served: see `serve`)."""
        return {kind: seq for (p, kind), seq in self.seqs.items() if p == pub}

    def resynced(self, kinds: list[str]) -> int:
        """Drop the stale entries of `kinds` once their sources republished (protocol docstring).

        Stale: loaded from disk by this incarnation (id below its first id, so not replaced
        since), and published on this node (peers' entries have other sources). The drop is
        persisted by a compaction. ValueError names a kind that is not a state kind.
        """
        for kind in kinds:
            info = KINDS.get(kind)
            if info is None or not info.is_state:
                raise ValueError(f"{kind!r} is not a state kind")
        wanted, first = set(kinds), self.ids.first
        # Resynced in this incarnation: a source restarting later publishes only its changes.
        self.confirmed |= wanted
        dropped = self.state.discard(lambda e: e.kind in wanted and e.id < first
                                     and _meta(e.meta).origin == self.nodename)
        if dropped:
            self._compact_open()
            log.info("journal_resynced", kinds=sorted(wanted), dropped=dropped)
        return dropped


def serve(journal: Journal, ctx: zmq.Context, paths: Paths, stop: threading.Event,
          on_ready: Callable[[], None] = lambda: None) -> None:
    """Number, keep and serve bus events on real sockets until `stop` is set.

    Each turn numbers a bounded batch of bus events, writes their state changes, publishes
    the batch on journal-out, then answers the queued requests: a reply always reflects every
    event received before it (which `seen` relies on).
    """
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
    # The second topic is never published: it tells publishers (XPUB) that this journal joined.
    sub = Subscriber(ctx, paths.endpoint(paths.bus_out), topics=[b"", journal_topic(journal.ids.first)],
                     rcvhwm=500_000)
    journal.seqs = sub._last_seq  # noqa: SLF001  (the Subscriber's per (pub, kind) counters)
    poller = zmq.Poller()
    poller.register(sub.sock, zmq.POLLIN)
    poller.register(req, zmq.POLLIN)
    log.info("journal_started", first_id=journal.ids.first, state=len(journal.state))
    on_ready()
    sock = sub.sock
    try:
        while not stop.is_set():
            events = dict(poller.poll(200))
            sub.resubscribe_if_reconnected()
            if sock in events:
                batch = []
                for _ in range(BATCH):
                    try:
                        frames = sock.recv_multipart(_NOBLOCK)
                    except zmq.Again:
                        break
                    msg = sub.check(frames)
                    if msg is not None:
                        meta = msg.meta
                        batch.append(journal.record(msg.kind, frames[0], frames[1], msg.data, meta.at,
                                                    meta.pub, meta.seq))
                if batch:
                    journal.flush()
                    out.send(b"".join(batch))
            if req in events:
                while True:
                    try:
                        frames = req.recv_multipart(_NOBLOCK)
                    except zmq.Again:
                        break
                    req.send_multipart(answer(journal, frames))
    finally:
        sub.close()
        out.close(linger=0)
        req.close(linger=0)
        for name in (OUT_SOCKET, REQ_SOCKET):
            try:
                (paths.run / name).unlink()
            except FileNotFoundError:
                pass


def run(rt: "Runtime") -> int:
    """Number, keep and serve bus events until SIGTERM/SIGINT."""
    config, paths = rt.config, rt.paths
    journal = Journal(paths, config.gateway.ring_size, config.nodename)
    ctx = zmq.Context()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve(journal, ctx, paths, stop, readiness.ready)
    finally:
        journal.close()
        ctx.term()
        log.info("journal_stopped", **journal.stats())
    return 0
