"""Server-Sent Events framing, byte-compatible with upstream om3.

Each event is written as `event: <Kind>` LF `id: <n>` LF `time: <RFC 3339>` LF
`data: <compact JSON>` LF LF. Upstream writes event, id and data; `time` is omd's addition,
which EventSource and upstream's parser ignore. Compact JSON holds no newline, so `data` is
always one line. Comment lines (`: ...`) keep idle streams alive through proxies.
"""

from __future__ import annotations


def frame(kind: str, eid: int | None, at: str, data: bytes) -> bytes:
    """One SSE event; `eid` None writes no id line (the client's resume position stays)."""
    if eid is None:
        return b"event: %s\ntime: %s\ndata: %s\n\n" % (kind.encode(), at.encode(), data)
    return b"event: %s\nid: %d\ntime: %s\ndata: %s\n\n" % (kind.encode(), eid, at.encode(), data)


KEEPALIVE = b": keepalive\n\n"
