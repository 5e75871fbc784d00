"""The C matcher (native/matcher.c through the cffi module `omd._filter_native`).

Same classes and semantics as `_python`. A batch lays the frames end to end in one buffer per
kind of frame, with their lengths, so one C call matches thousands of events; data frames are
not even joined when no matcher of the bank has a data assertion.
"""

from __future__ import annotations

from array import array
from operator import itemgetter
from typing import Any, Sequence

from .._filter_native import ffi, lib
from ._parse import FilterSpec
from ._program import encode_program
from ._python import pairs_to_lists

_OUT_PAIRS = 1 << 16
_first, _second = itemgetter(0), itemgetter(1)


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

    def match_pairs(self, events: Sequence[tuple[bytes, bytes]]) -> array:
        """Flat ``array('I')``: event index, handle, event index, handle... in event order,
        handles ascending per event."""
        n = len(events)
        result = array("I")
        if not n:
            return result
        # join() takes any bytes-like frame (zmq buffers too) and copies it once.
        topics = list(map(_first, events))
        tbuf = b"".join(topics)
        tlens = array("I", map(len, topics))
        dsize = 0
        if lib.omf_bank_needs_data(self._bank):
            datas = list(map(_second, events))
            dbuf = b"".join(datas)
            dlens_arr = array("I", map(len, datas))
            dlens = ffi.from_buffer("uint32_t[]", dlens_arr)
            dsize = len(dbuf)
        else:
            dbuf, dlens = ffi.NULL, ffi.NULL
        need = max(_OUT_PAIRS, len(self._handles))
        if self._out_cap < need:
            self._out = ffi.new("uint32_t[]", 2 * need)
            self._out_buf = ffi.buffer(self._out)
            self._out_cap = need
        out, out_n, cap, bank = self._out, self._out_n, self._out_cap, self._bank
        tl = ffi.from_buffer("uint32_t[]", tlens)
        i = 0
        while i < n:
            i = lib.omf_bank_match(bank, n, tbuf, tl, len(tbuf), dbuf, dlens, dsize, i, out, cap,
                                   out_n)
            result.frombytes(self._out_buf[: out_n[0] * 8])
        return result

    def match_batch(self, events: Sequence[tuple[bytes, bytes]]) -> list[list[int]]:
        """For each event, the handles that match it, ascending."""
        return pairs_to_lists(self.match_pairs(events), len(events))
