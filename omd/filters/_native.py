"""The C matcher (native/matcher.c through the cffi module `omd._filter_native`).

Same classes and semantics as `_python`. A batch hands C a table of frame pointers and
lengths (`omd._frames`, a small CPython extension: cffi cannot see inside `bytes` objects), so one
C call matches thousands of events and no frame is copied.
"""

from __future__ import annotations

from array import array
from typing import Any, Iterable, Sequence

from .._filter_native import ffi, lib
from .._frames import table as frame_table
from ._parse import FilterSpec
from ._program import encode_program
from ._python import pairs_to_lists

_OUT_PAIRS = 1 << 16


def _program(matcher: Any) -> bytes:
    program = getattr(matcher, "program", None)
    return program if program is not None else encode_program(matcher.spec)


def _frame(b: Any) -> bytes:
    return b if type(b) is bytes else bytes(b)


class Matcher:
    """A compiled `FilterSpec` (C). `match(topic, data)` takes the topic and data frames
    (bytes; other buffers are copied) and tells whether the event passes."""

    __slots__ = ("spec", "program", "_set")

    def __init__(self, spec: FilterSpec) -> None:
        self.spec = spec
        self.program = encode_program(spec)
        handle = lib.omf_set_new(self.program, len(self.program))
        if handle == ffi.NULL:
            raise MemoryError("cannot load the filter program")
        self._set = ffi.gc(handle, lib.omf_set_free)

    def match(self, topic: bytes, data: bytes) -> bool:
        """True when some filter holds for the event (always, without filters)."""
        if type(topic) is not bytes:
            topic = bytes(topic)
        if type(data) is not bytes:
            data = bytes(data)
        return lib.omf_set_match(self._set, topic, len(topic), data, len(data)) != 0


class MatcherBank:
    """Many matchers (one per client), matched together, indexed by kind (C).

    `add(matcher)` returns a handle (the lowest unused non-negative int); `remove(handle)`
    forgets it (KeyError when unknown). `match_batch(events)` takes ``(topic, data)`` pairs and
    returns, for each event, the handles that match it in ascending order; `match_pairs` returns
    the same as a flat ``array('I')`` of (event index, handle) pairs, the compact form.
    A bank is not thread-safe (matching updates per-set stamps): one bank per thread.
    """

    def __init__(self) -> None:
        bank = lib.omf_bank_new()
        if bank == ffi.NULL:
            raise MemoryError("cannot allocate a matcher bank")
        self._bank = ffi.gc(bank, lib.omf_bank_free)
        self._handles: set[int] = set()
        self._handle = ffi.new("uint32_t *")
        self._out_n = ffi.new("size_t *")
        self._out_cap = 0
        self._out: Any = None
        self._out_buf: Any = None

    def __len__(self) -> int:
        return len(self._handles)

    def add(self, matcher: Any) -> int:
        """Add a matcher (of either implementation); returns its handle."""
        program = _program(matcher)
        rc = lib.omf_bank_add(self._bank, program, len(program), self._handle)
        if rc != 1:
            raise MemoryError("cannot add the filter program to the bank")
        handle = int(self._handle[0])
        self._handles.add(handle)
        return handle

    def remove(self, handle: int) -> None:
        """Forget the matcher of `handle`; KeyError when no matcher has it."""
        if handle not in self._handles:
            raise KeyError(handle)
        lib.omf_bank_remove(self._bank, handle)
        self._handles.discard(handle)

    def _out_room(self) -> tuple[Any, int]:
        need = max(_OUT_PAIRS, len(self._handles))
        if self._out_cap < need:
            self._out = ffi.new("uint32_t[]", 2 * need)
            self._out_buf = ffi.buffer(self._out)
            self._out_cap = need
        return self._out, self._out_cap

    def match_pairs(self, events: Sequence[tuple[bytes, bytes]]) -> array:
        """Flat ``array('I')``: event index, handle, event index, handle... in event order,
        handles ascending per event."""
        result = array("I")
        if not events:
            return result
        # C reads the frames where they are, through a table of (pointer, length): the tuple
        # keeps every frame alive for the call. Frames that are not bytes (zmq frames,
        # memoryviews) and pairs that are not tuples are copied into that shape first.
        batch = events if type(events) is tuple else tuple(events)
        table = frame_table(batch)
        if table is None:
            batch = tuple((_frame(t), _frame(d)) for t, d in batch)
            table = frame_table(batch)
        n = len(batch)
        frames = ffi.from_buffer("omf_frame[]", table)
        out, cap = self._out_room()
        out_n, out_buf, bank = self._out_n, self._out_buf, self._bank
        i = 0
        while i < n:
            i = lib.omf_bank_match(bank, n, frames, i, out, cap, out_n)
            result.frombytes(out_buf[: out_n[0] * 8])
        return result

    def match_batch(self, events: Iterable[tuple[bytes, bytes]]) -> list[list[int]]:
        """For each event, the handles that match it, ascending."""
        if not isinstance(events, (list, tuple)):
            events = tuple(events)
        return pairs_to_lists(self.match_pairs(events), len(events))
