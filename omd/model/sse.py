"""Server-Sent Events framing, byte-compatible with upstream om3 (the one place it is written).

The journal builds each event's frame with `head` once; the gateway adds gap events with `frame`.

Each event is written as `event: <Kind>` LF `id: <n>` LF `time: <RFC 3339>` LF
`data: <compact JSON>` LF LF. Upstream writes event, id and data; `time` is omd's addition,
which EventSource and upstream's parser ignore. Compact JSON holds no newline, so `data` is
always one line. Comment lines (`: ...`) keep idle streams alive through proxies.
"""

from __future__ import annotations


def head(kind: str, eid: int | None, at: str) -> bytes:
    """Everything of an event's frame before the data JSON; `eid` None writes no id line."""
    if eid is None:
        return b"event: %s\ntime: %s\ndata: " % (kind.encode(), at.encode())
    return b"event: %s\nid: %d\ntime: %s\ndata: " % (kind.encode(), eid, at.encode())


def frame(kind: str, eid: int | None, at: str, data: bytes) -> bytes:
    """One SSE event; `eid` None writes no id line (the client's resume position stays)."""
    return head(kind, eid, at) + data + b"\n\n"


KEEPALIVE = b": keepalive\n\n"
