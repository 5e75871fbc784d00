"""Server-Sent Events framing, byte-compatible with upstream om3 (the one place it is written).

The journal builds each event's frame with `head` once; the gateway adds gap events with `frame`.

Each event is written as `event: <Kind>` LF `id: <n>` LF `time: <RFC 3339>` LF
`data: <compact JSON>` LF LF. Upstream writes event, id and data; `time` is omd's addition,
which EventSource and upstream's parser ignore. Compact JSON holds no newline, so `data` is
always one line. Comment lines (`: ...`) keep idle streams alive through proxies, and
`: stop <reason>` tells why the server ends a stream on a clean stop (no event is lost: the
client resumes with Last-Event-ID); clients that do not know it ignore it as any comment.
"""

from __future__ import annotations


class FrameFieldError(ValueError):
    """A value would end its SSE field (it holds CR or LF): it is never framed."""


def head(kind: str, eid: int | None, at: str) -> bytes:
    """Everything of an event's frame before the data JSON; `eid` None writes no id line.

    Raises FrameFieldError when `kind` or `at` holds CR or LF, which would end the field and
    let the rest be read as other fields (the journal refuses such events before this).
    """
    if "\n" in kind or "\r" in kind or "\n" in at or "\r" in at:
        raise FrameFieldError(f"CR or LF in an SSE field: {kind!r} {at!r}")
    if eid is None:
        return b"event: %s\ntime: %s\ndata: " % (kind.encode(), at.encode())
    return b"event: %s\nid: %d\ntime: %s\ndata: " % (kind.encode(), eid, at.encode())


def frame(kind: str, eid: int | None, at: str, data: bytes) -> bytes:
    """One SSE event; `eid` None writes no id line (the client's resume position stays).

    Raises FrameFieldError when a field, or the data, holds CR or LF.
    """
    if b"\n" in data or b"\r" in data:
        raise FrameFieldError("CR or LF in SSE data")
    return head(kind, eid, at) + data + b"\n\n"


KEEPALIVE = b": keepalive\n\n"


def stop_comment(reason: str) -> bytes:
    """The comment the server writes before it ends a stream on a clean stop."""
    return b": stop %s\n\n" % reason.replace("\r", " ").replace("\n", " ").encode()
