"""The journal subsystem: numbers every bus event, keeps the recent ones and the current state.

It subscribes to everything on the bus, checks each event (omd.subsystems.journal.validate:
a refused one is counted, never numbered) and gives it the node's next event id (an unsigned
64-bit integer, strictly increasing, also across restarts: ids are reserved in blocks
recorded in `var/lib/omd/journal/idbase` and `var/lib/omd/journal.idbase` before use, see
IdAllocator). It keeps:

- a ring of the last `[gateway] ring_size` events, for resumes by Last-Event-ID;
- the compacted log (omd.model.state), for replay and the cluster dataset. Each state change is
  appended to `var/lib/omd/journal/state.log` before the batch it belongs to is published (a
  kill -9 loses none); the log is compacted into `state.json` when it grows past twice the
  state. At start, every row is checked as an event is (validate.check_row): a line cut by a
  crash, a line that does not parse or a row that does not decode is skipped and reported;
  the other rows are kept.

Loss it sees and disk failures are told, not only logged: a bus seq gap (a bus restart, a
flood the bus dropped) and a state write the disk refuses (ENOSPC, EROFS, EACCES) become
numbered *notices* in the ring (`Journal.notice`: a SubscriptionError with labels
source=journal), which the gateway turns into gap events. On a failing disk the journal
serves from memory, reports `degraded` (omd.daemon.readiness), refuses ids it cannot reserve,
and retries with backoff until a compaction writes everything (`Journal.recover`).

It lives in its own process so that the HTTP gateway can die and restart without losing a
single event: streams resume from the journal's ring. Its own death (like the bus's) is a
gap, reported to resuming clients.

Its protocol (the event stream, requests and replies, and the clients) is in
`omd.subsystems.journal.protocol`; this module only serves it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import msgspec
import structlog
import zmq

from omd.daemon import readiness
from omd.daemon.registry import EXIT_REFUSED
from omd.errors import OmdError
from omd.model.events import KINDS
from omd.model.state import CompactedLog
from omd.paths import Paths
from omd.model.wire import encode_topic, rfc3339_ns
from omd.sockets import Subscriber
from omd.statefile import describe, write_atomic
from omd.subsystems.journal import validate
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


REFUSED_LOG_INTERVAL = 10.0  # seconds between two log lines of one refusal cause
GAP_NOTICE_INTERVAL = 1.0  # seconds: bus seq gaps seen within it make one notice
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds between retries of a failed disk write
NOTICE_LABELS = {"source": "journal"}
NOTICE_TOPIC = encode_topic("SubscriptionError", NOTICE_LABELS)


U64_MAX = (1 << 64) - 1


class IdbaseError(OmdError):
    """The id counter cannot be trusted: starting could issue an id already issued."""

    exit_code = EXIT_REFUSED


class IdsExhausted(OmdError):
    """Every u64 id has been issued: the journal refuses events (`ids_exhausted`)."""


def read_idbase(path: Path) -> int | None | str:
    """An idbase file's value; None when missing; an error text when unreadable."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path}: {exc}"
    if not text.isdigit() or not 1 <= int(text) <= U64_MAX + 1:
        return f"{path}: {text[:40]!r} is not an id between 1 and 2^64"
    return int(text)


_ROW_ID = re.compile(rb"\[\s*(\d{1,20})\s*,")


def highest_row_id(text: bytes) -> int:
    """The highest id that starts a row ([id, ...]) in the text of a state file, however
    damaged the rest is (0: none): the witness of ids issued before."""
    top = 0
    for match in _ROW_ID.finditer(text):
        value = int(match.group(1))
        if value <= U64_MAX:
            top = max(top, value)
    return top


class IdAllocator:
    """Strictly increasing ids that survive restarts: blocks are reserved on disk before use.

    The reservation (the first id not yet reserved) is written to two files, `path` and
    `copy` (outside the journal directory, so that removing the directory keeps it), and
    `witness` is the highest id known issued otherwise (the state files'). At start the next
    id is past every readable value; a missing or unreadable file beside a good one is
    rewritten and logged. When no file is readable and either file exists or the witness is
    above 0, ids may have been issued that nothing remembers: IdbaseError, until an operator
    runs `omd journal repair-idbase`. Ids end at 2^64 - 1: then `take` raises IdsExhausted.
    """

    def __init__(self, path: Path, block: int = ID_BLOCK, copy: Path | None = None, witness: int = 0) -> None:
        self.path = path
        self.copy = copy
        self.block = block
        path.parent.mkdir(parents=True, exist_ok=True)
        files = [path] if copy is None else [path, copy]
        values = {f: read_idbase(f) for f in files}
        good = [v for v in values.values() if isinstance(v, int)]
        bad = {str(f): v for f, v in values.items() if not isinstance(v, int)}
        if not good and (any(v is not None for v in values.values()) or witness > 0):
            reasons = [v if v is not None else f"{f}: missing" for f, v in values.items()]
            raise IdbaseError("the journal's id counter cannot be trusted (" + "; ".join(map(str, reasons))
                              + f"; highest id in the state files: {witness}): ids issued before could be "
                              "issued again. Run `omd journal repair-idbase` (see its --help) to set it.")
        reserved = max([*good, witness + 1, 1])
        if good and bad:
            log.error("journal_idbase_repaired", unreadable=bad, next=reserved)
        if good and witness + 1 > max(good):
            log.error("journal_idbase_behind_state", idbase=max(good), state_last_id=witness, next=reserved)
        self.next = reserved
        self.limit = self.next
        self.write_error: OSError | None = None  # the last failed write of the reservation
        try:
            if self.next <= U64_MAX:
                self._reserve()
            else:
                self._write(self.next)
        except OSError as exc:  # a full or read-only disk: no id until a reservation is written
            self.write_error = exc
        self.first = self.next

    def _write(self, value: int) -> None:
        """Write `value` to both files; OSError when one cannot be written (its temporary
        removed). A value written to one file only is safe: it is above every id issued."""
        for target in (self.path,) if self.copy is None else (self.path, self.copy):
            exc = write_atomic(target, f"{value}\n".encode())
            if exc is not None:
                raise exc

    def _reserve(self) -> None:
        """Reserve the next block; the limit moves only once the reservation is on disk."""
        limit = min(self.next + self.block, U64_MAX + 1)
        self._write(limit)
        self.limit = limit
        self.write_error = None

    def ensure(self) -> None:
        """Write the reservation again if a file was removed (the journal directory deleted);
        OSError when it cannot be written."""
        if any(f is not None and not f.exists() for f in (self.path, self.copy)):
            log.error("journal_idbase_missing", path=str(self.path), limit=self.limit)
            self._write(self.limit)

    @property
    def available(self) -> bool:
        """An id can be taken without writing a reservation first."""
        return self.next < self.limit

    @property
    def exhausted(self) -> bool:
        """Every u64 id has been issued."""
        return self.next > U64_MAX

    def take(self) -> int:
        """The next id; IdsExhausted after 2^64 - 1."""
        if self.next >= self.limit:
            if self.next > U64_MAX:
                raise IdsExhausted("every u64 event id has been issued")
            self._reserve()
        value = self.next
        self.next += 1
        return value

    @property
    def last(self) -> int:
        """The last id handed out (first - 1 when none yet)."""
        return self.next - 1


def repair_idbase(paths: Paths, next_id: int | None = None) -> int:
    """Set the id counter past every id that may have been issued; the next id.

    Without `next_id`: one block (ID_BLOCK) past the highest id of the state files and of
    any readable idbase file. With it: at least `next_id`.
    """
    directory = paths.lib / "journal"
    witness = Journal.state_witness(directory)
    values = [v for v in (read_idbase(directory / "idbase"), read_idbase(paths.lib / "journal.idbase"))
              if isinstance(v, int)]
    value = max([witness + 1 + ID_BLOCK, *values, *([next_id] if next_id else [])])
    if value > U64_MAX + 1:
        raise IdbaseError(f"{value} is above 2^64")
    alloc = IdAllocator.__new__(IdAllocator)
    alloc.path, alloc.copy = directory / "idbase", paths.lib / "journal.idbase"
    alloc._write(value)  # noqa: SLF001
    log.warning("journal_idbase_set", next=value, state_last_id=witness)
    return value


class Journal:
    """The journal's state and request handling, independent of sockets (unit-testable).

    `seqs` maps (publisher id, kind) to the last seq journaled; `serve` binds it to its bus
    Subscriber's counters, which are updated for every event before it is numbered.
    """

    def __init__(self, paths: Paths, ring_size: int, nodename: str = "",
                 max_event_size: int = validate.DEFAULT_MAX_EVENT_SIZE, ring_max_bytes: int = 128 << 20) -> None:
        self.nodename = nodename
        self.max_event_size = max_event_size
        self.refused: dict[str, int] = {}  # cause -> events refused (validate.check)
        self._refused_logged: dict[str, float] = {}
        self.dir = paths.lib / "journal"
        self.dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.dir.glob("*.tmp"):  # left by a crash in a write (or by older versions)
            try:
                tmp.unlink()
            except OSError:
                pass
        self.ring: deque[tuple[int, bytes]] = deque()  # (id, packed record), ids contiguous
        self.ring_size = ring_size
        self.ring_max_bytes = ring_max_bytes
        self.ring_bytes = 0
        self.decoded: Any = None  # the typed event accept() decoded, taken by the next record()
        self.state_file = self.dir / "state.json"
        self.log_file = self.dir / "state.log"
        self.seqs: dict[tuple[str, str], int] = {}
        self._witness = 0  # the highest id in the state files, also of rows _load_state skips
        self.state = self._load_state()
        witness = max(max((e.id for e in self.state.entries()), default=0), self._witness)
        self.ids = IdAllocator(self.dir / "idbase", copy=paths.lib / "journal.idbase", witness=witness)
        self.log_lines = 0
        self._pending: list[bytes] = []
        self._pending_first = 0  # the id of the first pending state change
        self.count = 0
        self.confirmed: set[str] = set()  # state kinds resynced in this incarnation
        # Loss and durability notices (see `notice`), numbered, waiting to be published.
        self.notices: list[bytes] = []
        self.bus_gaps = 0  # bus seq gaps seen (publisher, kind)
        self.bus_missed = 0  # events the bus lost, by those gaps
        self._gap_pending = 0  # missed events not told yet
        self._gap_told = -GAP_NOTICE_INTERVAL
        self.disk_error: str | None = None  # why the state is not durable; None when it is
        self.disk_failures = 0
        self._retry_delay = RETRY_FIRST
        self._retry_at = 0.0
        self._log: Any = None
        if self.ids.write_error is not None:
            self._disk_failed(self.ids.write_error)
        self._compact_open()

    @staticmethod
    def state_witness(directory: Path) -> int:
        """The highest id in the state files of `directory` (0: none), read leniently."""
        top = 0
        for name in ("state.json", "state.log"):
            try:
                top = max(top, highest_row_id((directory / name).read_bytes()))
            except OSError:
                continue
        return top

    def _load_state(self) -> CompactedLog:
        rows: list[Any] = []
        try:
            text = self.state_file.read_bytes()
            self._witness = highest_row_id(text)
            loaded = json.loads(text)
            if not isinstance(loaded, list):
                raise ValueError("not a list of rows")
            rows = [row for row in loaded if validate.check_row(row) is None]
            if len(rows) != len(loaded):
                log.error("journal_state_rows_skipped", file=str(self.state_file), skipped=len(loaded) - len(rows))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.error("journal_state_unreadable", file=str(self.state_file), error=str(exc))
        try:
            with open(self.log_file, "rb") as f:
                text = f.read()
            self._witness = max(self._witness, highest_row_id(text))
            lines = text.split(b"\n")
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
            if validate.check_row(row) is None:
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
        self.dir.mkdir(parents=True, exist_ok=True)
        exc = write_atomic(self.state_file, json.dumps(self.state.dump()).encode())
        if exc is not None:  # state.log is left whole: with state.json it still holds the state
            raise exc
        with open(self.log_file, "wb"):
            pass
        self.log_lines = 0

    def _compact_open(self) -> bool:
        """Compact while the state log is open (its pending lines are in the state already);
        False when the disk refused (then the journal is not durable, see `_disk_failed`)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self._pending.clear()
        try:
            self.compact()
            self._log = open(self.log_file, "ab", buffering=0)
        except OSError as exc:
            self._disk_failed(exc)
            return False
        return True

    # ------------------------------------------------------------------ loss and durability

    def notice(self, cause: str, error: str, **fields: Any) -> None:
        """Number a notice for the clients (a SubscriptionError with labels source=journal)
        and keep it in the ring; `serve` publishes it after the events before it.

        cause `bus_gap`: the bus lost events; `not_durable`: state changes from id `since`
        are not written to disk; `durable`: they are again. The gateway turns the first two
        into gap events on every stream that gets past the notice's id.
        """
        if not self.ids.available and not self._reserve_ids():
            log.warning("journal_notice_dropped", cause=cause, error=error)
            return
        eid = self.ids.take()
        data = msgspec.json.encode({"labels": NOTICE_LABELS, "error": error, "cause": cause, **fields})
        record = pack_record(eid, "SubscriptionError", NOTICE_TOPIC, rfc3339_ns(), data, b"", 0)
        self._keep(eid, record)
        self.notices.append(record)

    def _keep(self, eid: int, record: bytes) -> None:
        """Append to the ring; drop the oldest beyond `ring_size` events or `ring_max_bytes`
        (the newest is always kept, whatever its size)."""
        ring = self.ring
        ring.append((eid, record))
        self.ring_bytes += len(record)
        while len(ring) > 1 and (len(ring) > self.ring_size or self.ring_bytes > self.ring_max_bytes):
            self.ring_bytes -= len(ring.popleft()[1])

    def bus_gap(self, pub: str, kind: str, missed: int) -> None:
        """The bus Subscriber saw a seq gap: `missed` events of `kind` from `pub` were lost."""
        self.bus_gaps += 1
        self.bus_missed += missed
        self._gap_pending += missed

    def tell_gaps(self, now: float | None = None) -> None:
        """Number one notice for the bus gaps not told yet, at most every GAP_NOTICE_INTERVAL."""
        now = time.monotonic() if now is None else now
        if self._gap_pending and now - self._gap_told >= GAP_NOTICE_INTERVAL:
            missed, self._gap_pending, self._gap_told = self._gap_pending, 0, now
            self.notice("bus_gap", f"the bus lost {missed} events before this point (a bus restart or "
                        "a publisher faster than the bus): they were never journaled", missed=missed)

    def _disk_failed(self, exc: OSError) -> None:
        """A write of the state files or the id reservation failed: not durable until a retry
        succeeds (`maintain`). What is in memory is still served."""
        self.disk_failures += 1
        reason = f"journal disk: {describe(exc)}"
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)
        if self.disk_error is None:
            log.error("journal_not_durable", error=str(exc), file=exc.filename)
            since = self._pending_first or self.ids.next
            self.disk_error = reason
            readiness.health(reason)
            self.notice("not_durable", f"the journal cannot write its state ({reason}): events from id "
                        f"{since} are served but would be lost by a restart", since=since)
        self.disk_error = reason

    def _reserve_ids(self) -> bool:
        try:
            self.ids._reserve()  # noqa: SLF001
        except OSError as exc:
            self.ids.write_error = exc
            self._disk_failed(exc)
            return False
        return True

    def recover(self, now: float | None = None) -> bool:
        """Retry the failed writes when their delay passed; True once durable again."""
        now = time.monotonic() if now is None else now
        if self.disk_error is None:
            return True
        if now < self._retry_at:
            return False
        if (self.ids.write_error is not None or not self.ids.available) and not self._reserve_ids():
            return False
        try:
            self.ids.ensure()
        except OSError as exc:
            self._disk_failed(exc)
            return False
        self.disk_error = "recovering"  # _compact_open reports a failure as a new one otherwise
        if not self._compact_open():
            return False
        log.info("journal_durable", failures=self.disk_failures)
        self.disk_error = None
        self._retry_delay = RETRY_FIRST
        readiness.health("")
        self.notice("durable", "the journal writes its state again: every event is durable")
        return True

    def accept(self, kind: str, labels: dict[str, str], topic: bytes, meta: bytes, at: str,
               data: bytes) -> bool:
        """Whether a bus event may be journaled (omd.subsystems.journal.validate); a refused one
        is counted per cause and logged at most once per cause every REFUSED_LOG_INTERVAL s."""
        if self.ids.exhausted:
            cause: str | None = "ids_exhausted"
        elif kind == "SubscriptionError" and labels.get("source") == "journal":
            cause = "labels"  # only the journal's own notices carry it
        elif not self.ids.available and not self._reserve_ids():
            cause = "not_durable"  # an id not reserved on disk could be issued again after a crash
        else:
            cause, self.decoded = validate.check_decoded(kind, labels, topic, meta, at, data,
                                                          self.max_event_size)
        if cause is None:
            return True
        self.refused[cause] = self.refused.get(cause, 0) + 1
        now = time.monotonic()
        if now - self._refused_logged.get(cause, -REFUSED_LOG_INTERVAL) >= REFUSED_LOG_INTERVAL:
            self._refused_logged[cause] = now
            log.warning("journal_event_refused", cause=cause, kind=kind, size=len(topic) + len(meta) + len(data),
                        refused=self.refused[cause])
        return False

    def record(self, kind: str, topic: bytes, meta: bytes, data: bytes, at: str, pub: str = "",
               seq: int = 0) -> bytes:
        """Number an event, keep it in the ring and fold it into the state; its packed record.

        State changes are written to the state log's buffer; `flush()` writes them before
        the batch is published, so nothing anyone has seen is missing from the state after a
        crash.
        """
        eid = self.ids.take()
        record = pack_record(eid, kind, topic, at, data, pub.encode(), seq)
        self._keep(eid, record)
        self.count += 1
        decoded, self.decoded = self.decoded, None  # what accept() decoded for this event
        try:
            changed = self.state.apply(eid, kind, topic, meta, data, decoded)
        except (ValueError, TypeError, AttributeError) as exc:  # malformed data of a state kind
            log.warning("journal_state_skip", kind=kind, error=str(exc))
            return record
        if changed:
            if not self._pending:
                self._pending_first = eid
            self._pending.append(_encode_row([eid, kind, topic.decode(errors="replace"),
                                              meta.decode(errors="replace"),
                                              data.decode(errors="replace")]) + b"\n")
        return record

    def flush(self) -> None:
        """Write the pending state-log lines (one write per batch); compact when it grew."""
        if not self._pending:
            return
        if self.disk_error is not None or self._log is None:  # in memory; `recover` compacts it all
            self._pending.clear()
            return
        data = memoryview(b"".join(self._pending))
        try:
            while data:  # an unbuffered write may be short on a disk that fills up
                data = data[self._log.write(data):]
        except OSError as exc:
            self._disk_failed(exc)
            self._pending.clear()
            return
        self.log_lines += len(self._pending)
        self._pending.clear()
        if self.log_lines > max(1000, 2 * len(self.state)):
            self._compact_open()

    def maintain(self) -> None:
        """Write the id reservation and the state files again if they were removed (the
        journal directory deleted while it runs), so that a restart neither reuses ids nor
        loses the state."""
        if self.disk_error is not None:
            self.recover()
            return
        try:
            self.ids.ensure()
        except OSError as exc:
            self._disk_failed(exc)
            return
        if not self.log_file.exists():
            log.error("journal_state_log_missing", file=str(self.log_file))
            self._compact_open()

    def close(self) -> None:
        """Flush, compact and close the state log."""
        self.flush()
        if self._log is not None:
            self._log.close()
            self._log = None
        try:
            self.compact()
        except OSError as exc:
            log.error("journal_state_not_saved", error=str(exc))

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
                "last_id": self.ids.last, "ring": len(self.ring), "ring_bytes": self.ring_bytes,
                "state": len(self.state),
                "incarnation_first_id": self.ids.first, "confirmed": sorted(self.confirmed),
                "refused": dict(self.refused), "bus_gaps": self.bus_gaps, "bus_missed": self.bus_missed,
                "durable": self.disk_error is None, "disk_error": self.disk_error or "",
                "disk_failures": self.disk_failures}

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
            self._compact_open()  # a failure is reported; the drop is in memory meanwhile
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
                     rcvhwm=500_000, on_gap=journal.bus_gap)
    journal.seqs = sub._last_seq  # noqa: SLF001  (the Subscriber's per (pub, kind) counters)
    poller = zmq.Poller()
    poller.register(sub.sock, zmq.POLLIN)
    poller.register(req, zmq.POLLIN)
    log.info("journal_started", first_id=journal.ids.first, state=len(journal.state))
    on_ready()
    sock = sub.sock
    maintained = time.monotonic()
    try:
        while not stop.is_set():
            events = dict(poller.poll(200))
            if time.monotonic() - maintained >= 1.0:
                maintained = time.monotonic()
                journal.maintain()
            sub.resubscribe_if_reconnected()
            # Events and notices share one list, in the order of their ids.
            batch = journal.notices
            if sock in events:
                for _ in range(BATCH):
                    try:
                        frames = sock.recv_multipart(_NOBLOCK)
                    except zmq.Again:
                        break
                    msg = sub.check(frames)
                    if msg is not None and journal.accept(msg.kind, msg.labels, frames[0], frames[1],
                                                          msg.meta.at, msg.data):
                        meta = msg.meta
                        batch.append(journal.record(msg.kind, frames[0], frames[1], msg.data, meta.at,
                                                    meta.pub, meta.seq))
                journal.flush()
            journal.tell_gaps()
            if batch:
                out.send(b"".join(batch))
                batch.clear()
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
    try:
        journal = Journal(paths, config.gateway.ring_size, config.nodename, config.bus.max_event_size,
                          config.gateway.ring_max_bytes)
    except IdbaseError as exc:
        log.critical("journal_refused_to_start", error=str(exc))
        return EXIT_REFUSED
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
