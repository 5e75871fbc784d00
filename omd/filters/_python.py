"""The pure-Python matcher and bank: the reference twin of native/matcher.c.

Data assertions decode the data frame once per event with msgspec (fast, and equivalent to the
C scan on valid JSON); when msgspec rejects the frame, the statement-by-statement port of the C
scanner in `_scan` decides, so both twins agree on malformed frames too.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Any, Iterable, Sequence

import msgspec

from ._parse import FilterSpec
from ._program import utf8
from ._scan import FALSE, NULL, TRUE, find_path, glob, topic_kind, topic_labels

_decode = msgspec.json.decode
_UNSET = object()
_INVALID = object()
_MISSING = object()

L_EQ, L_NE, L_GLOB, L_NGLOB = range(4)
_ORDER = {
    "=": lambda c: c == 0, "!=": lambda c: c != 0, "<": lambda c: c < 0,
    "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0,
}


def _literal(value: Any) -> tuple:
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if value is None:
        return NULL
    if isinstance(value, str):
        return ("s", utf8(value))
    return ("n", float(value))


def _scalar(obj: Any) -> tuple | None:
    """The normalized scalar of a decoded JSON value; None for containers."""
    if obj is True:
        return TRUE
    if obj is False:
        return FALSE
    if obj is None:
        return NULL
    cls = type(obj)
    if cls is str:
        return ("s", obj.encode())
    if cls is int:
        try:
            return ("n", float(obj))
        except OverflowError:  # strtod's answer for an integer past the double range
            return ("n", float("inf") if obj > 0 else float("-inf"))
    if cls is float:
        return ("n", obj)
    return None


class _Data:
    """One event's data frame, decoded at most once, on the first data assertion."""

    __slots__ = ("raw", "obj")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.obj: Any = _UNSET

    def get(self, path: tuple, bpath: tuple) -> tuple | None:
        obj = self.obj
        if obj is _UNSET:
            try:
                obj = _decode(self.raw)
            except (msgspec.DecodeError, RecursionError, ValueError):
                obj = _INVALID
            self.obj = obj
        if obj is _INVALID:
            return find_path(self.raw, bpath)
        for seg in path:
            if type(seg) is str:
                if type(obj) is not dict:
                    return None
                obj = obj.get(seg, _MISSING)
                if obj is _MISSING:
                    return None
            else:
                if type(obj) is not list or seg >= len(obj):
                    return None
                obj = obj[seg]
        return _scalar(obj)


def _holds(op: str, v: tuple | None, lit: tuple) -> bool:
    if v is None:
        return False
    t, lt = v[0], lit[0]
    if t == lt and (t == "s" or t == "n"):
        a, b = v[1], lit[1]
        return _ORDER[op]((a > b) - (a < b))
    if op == "=":
        return t == lt
    if op == "!=":
        return t != lt
    return False


class _Filter:
    """One filter, ready to evaluate: labels as bytes, literals normalized."""

    __slots__ = ("kinds", "labels", "data")

    def __init__(self, f: Any) -> None:
        self.kinds = frozenset(k.encode() for k in f.kinds) or None
        self.labels = tuple(
            (utf8(a.key), utf8(a.value), int(a.negate) + 2 * int(a.glob)) for a in f.labels
        )
        self.data = tuple(
            (d.path, tuple(utf8(s) if isinstance(s, str) else s for s in d.path), d.op,
             _literal(d.value))
            for d in f.data
        )

    def holds(self, topic: bytes, labels: dict | None, doc: _Data | None) -> tuple[bool, Any, Any]:
        """Labels then data; returns the lazily built topic labels and data for reuse."""
        if self.labels:
            if labels is None:
                labels = topic_labels(topic)
            for key, val, op in self.labels:
                v = labels.get(key)
                if op == L_EQ:
                    ok = v == val
                elif op == L_NE:
                    ok = v != val
                elif op == L_GLOB:
                    ok = v is not None and glob(val, v)
                else:
                    ok = v is None or not glob(val, v)
                if not ok:
                    return False, labels, doc
        for path, bpath, op, lit in self.data:
            if doc is None:
                return False, labels, doc
            if not _holds(op, doc.get(path, bpath), lit):
                return False, labels, doc
        return True, labels, doc


def _frame(b: Any) -> bytes:
    return b if type(b) is bytes else bytes(b)


class Matcher:
    """A compiled `FilterSpec` (pure Python). `match(topic, data)` takes the topic and data
    frames (bytes; other buffers are copied) and tells whether the event passes."""

    __slots__ = ("spec", "_filters")

    def __init__(self, spec: FilterSpec) -> None:
        self.spec = spec
        self._filters = tuple(_Filter(f) for f in spec.filters)

    def match(self, topic: bytes, data: bytes) -> bool:
        """True when some filter holds for the event (always, without filters)."""
        if not self._filters:
            return True
        topic = _frame(topic)
        kind = topic_kind(topic)
        labels = doc = None
        for f in self._filters:
            if f.kinds is not None and kind not in f.kinds:
                continue
            if f.data and doc is None:
                doc = _Data(_frame(data))
            ok, labels, doc = f.holds(topic, labels, doc)
            if ok:
                return True
        return False


class MatcherBank:
    """Many matchers (one per client), matched together, indexed by kind (pure Python).

    `add(matcher)` returns a handle (the lowest unused non-negative int); `remove(handle)`
    forgets it (KeyError when unknown). `match_batch(events)` takes ``(topic, data)`` pairs and
    returns, for each event, the handles that match it in ascending order; `match_pairs` returns
    the same as a flat ``array('I')`` of (event index, handle) pairs, the compact form.
    A bank is not thread-safe (matching updates per-set stamps): one bank per thread.
    """

    def __init__(self) -> None:
        self._by_kind: dict[bytes, list[tuple[int, _Filter | None]]] = {}
        self._any: list[tuple[int, _Filter | None]] = []
        self._sets: dict[int, tuple[_Filter, ...]] = {}
        self._free: list[int] = []
        self._next = 0

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, matcher: Any) -> int:
        """Add a matcher (of either implementation); returns its handle."""
        filters = tuple(_Filter(f) for f in matcher.spec.filters)
        if self._free:
            handle = heapq.heappop(self._free)
        else:
            handle = self._next
            self._next += 1
        self._sets[handle] = filters
        if not filters:
            self._insert(self._any, handle, None)
        for f in filters:
            if f.kinds is None:
                self._insert(self._any, handle, f)
            else:
                for k in f.kinds:
                    self._insert(self._by_kind.setdefault(k, []), handle, f)
        return handle

    @staticmethod
    def _insert(entries: list, handle: int, f: _Filter | None) -> None:
        i = len(entries)
        while i > 0 and entries[i - 1][0] > handle:
            i -= 1
        entries.insert(i, (handle, f))

    def remove(self, handle: int) -> None:
        """Forget the matcher of `handle`; KeyError when no matcher has it."""
        self._sets.pop(handle)
        heapq.heappush(self._free, handle)
        self._any = [e for e in self._any if e[0] != handle]
        for k, entries in self._by_kind.items():
            self._by_kind[k] = [e for e in entries if e[0] != handle]

    def match_pairs(self, events: Sequence[tuple[bytes, bytes]]) -> array:
        """Flat ``array('I')``: event index, handle, event index, handle... in event order,
        handles ascending per event."""
        out = array("I")
        by_kind, any_ = self._by_kind, self._any
        for idx, (topic, data) in enumerate(events):
            topic = _frame(topic)
            entries: Iterable = by_kind.get(topic_kind(topic), ())
            if any_:
                entries = [*entries, *any_]
            hits: set[int] = set()
            labels = doc = None
            for handle, f in entries:
                if handle in hits:
                    continue
                if f is None:
                    hits.add(handle)
                    continue
                if f.data and doc is None:
                    doc = _Data(_frame(data))
                ok, labels, doc = f.holds(topic, labels, doc)
                if ok:
                    hits.add(handle)
            for handle in sorted(hits):
                out.append(idx)
                out.append(handle)
        return out

    def match_batch(self, events: Iterable[tuple[bytes, bytes]]) -> list[list[int]]:
        """For each event, the handles that match it, ascending."""
        if not isinstance(events, (list, tuple)):
            events = tuple(events)
        return pairs_to_lists(self.match_pairs(events), len(events))


def pairs_to_lists(pairs: array, n: int) -> list[list[int]]:
    """Expand flat (event index, handle) pairs into one list of handles per event."""
    result: list[list[int]] = [[] for _ in range(n)]
    it = iter(pairs)
    for idx, handle in zip(it, it):
        result[idx].append(handle)
    return result
