"""omd._frames: the frame table the C bank reads events through (native/frames.c)."""

from __future__ import annotations

import struct

from omd._frames import table


def test_table_has_a_pointer_and_a_length_per_frame():
    """Two (pointer, length) entries per event: topic then data, in event order."""
    events = ((b"A\0", b"{}"), (b"Kind\0x=1\0", b"[" * 300))
    t = table(events)
    entries = struct.unpack("<8Q", t)
    assert entries[1::2] == (2, 2, 9, 300)
    assert all(entries[0::2])
    assert len({entries[0], entries[2], entries[4], entries[6]}) == 4
    assert table(()) == b""


def test_other_shapes_give_none():
    """Anything but a tuple of (bytes, bytes) tuples is left to the caller to normalize."""
    for events in ([(b"A", b"{}")], ((b"A", b"{}", b"x"),), ([b"A", b"{}"],), ((b"A", bytearray(b"{}")),),
                   ((memoryview(b"A"), b"{}"),), ((b"A",),), (None,), "ab", None, 3):
        assert table(events) is None, events
