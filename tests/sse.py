"""Test-side SSE tools: a strict parser that follows upstream om3's reader, and raw HTTP.

`StrictParser` applies the rules of upstream's core/event/sseevent reader and is stricter:
every line must be a known field (`event`, `id`, `time`, `data`, `retry`) or a comment, an
`id` must be an unsigned 64-bit integer, `data` must be one line of JSON, and each event
must carry `event` and `data`.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class SSEEvent:
    """One parsed event; `id` is None when the event had no id line."""

    kind: str
    id: int | None
    time: str | None
    data: dict[str, Any]
    raw: bytes = b""

    @property
    def labels(self) -> dict[str, str]:
        return self.data.get("labels") or {}


@dataclass
class StrictParser:
    """Incremental parser: feed bytes, collect events and comments."""

    buffer: bytes = b""
    comments: list[bytes] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self.buffer += chunk
        out = []
        while b"\n\n" in self.buffer:
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            ev = self._parse_block(block)
            if ev is not None:
                out.append(ev)
        return out

    def _parse_block(self, block: bytes) -> SSEEvent | None:
        kind = eid = at = data = None
        only_comments = True
        for line in block.split(b"\n"):
            assert not line.endswith(b"\r"), f"CR in line {line!r}"
            if line.startswith(b":"):
                self.comments.append(line)
                continue
            only_comments = False
            name, sep, value = line.partition(b":")
            assert sep, f"line without field separator: {line!r}"
            value = value[1:] if value.startswith(b" ") else value
            if name == b"event":
                kind = value.decode()
            elif name == b"id":
                eid = int(value)
                assert 0 <= eid < 2**64 and value == str(eid).encode(), f"bad id {value!r}"
            elif name == b"time":
                at = value.decode()
            elif name == b"data":
                assert data is None, "multi-line data"
                data = json.loads(value)
            elif name == b"retry":
                pass
            else:
                raise AssertionError(f"unknown field {name!r}")
        if only_comments:
            return None
        assert kind and data is not None, f"incomplete event block {block!r}"
        assert isinstance(data, dict)
        return SSEEvent(kind, eid, at, data, block)


class RawStream:
    """An HTTP/1.1 GET over a unix socket, read as raw bytes (headers then chunked body)."""

    def __init__(self, sock_path: str, target: str, headers: dict[str, str] | None = None,
                 rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        lines = [f"GET {target} HTTP/1.1", "Host: omd"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            self.sock.connect(sock_path)
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        except OSError:
            self.sock.close()
            raise
        self.raw = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.parser = StrictParser()
        self.pending: list[SSEEvent] = []
        self.closed = False

    def _recv(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not chunk:
            self.closed = True
            return False
        self.raw += chunk
        return True

    def read_headers(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(max(0.01, deadline - time.monotonic())) and (self.closed or time.monotonic() > deadline):
                raise AssertionError(f"no headers: {self.raw!r}")
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode().split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}

    def _dechunk(self) -> None:
        while True:
            if b"\r\n" not in self.raw:
                return
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if size == 0:
                self.closed = True
                self.raw = b""
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.raw = rest[size + 2:]

    def events(self, count: int | None = None, timeout: float = 10) -> list[SSEEvent]:
        """Read until `count` events (or the stream closes, when count is None)."""
        if not self.status:
            self.read_headers(timeout)
        out: list[SSEEvent] = []
        deadline = time.monotonic() + timeout
        while count is None or len(out) < count:
            if self.pending:
                out.append(self.pending.pop(0))
                continue
            self._dechunk()
            if self.body:
                self.pending += self.parser.feed(self.body)
                self.body = b""
                continue
            if self.closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._recv(left)
        return out

    def iter_events(self, timeout: float = 10) -> Iterator[SSEEvent]:
        """Yield events one at a time until the stream closes or `timeout` passes."""
        while True:
            got = self.events(1, timeout)
            if not got:
                return
            yield got[0]

    def close(self) -> None:
        self.sock.close()
