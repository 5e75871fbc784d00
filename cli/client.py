"""The CLI's HTTP client: the daemon's unix socket (om) or a remote TCP/TLS server (ox).

Standard library only (http.client), so that `om` starts fast. `EventStream` reads the SSE
stream line by line and yields `Envelope`s whose `data` are the raw JSON bytes the server
sent, so `-o json` prints them without decoding.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlencode, urlsplit


# HTTP statuses a retry can heal: rate limited, a proxy or server restarting or overloaded.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class ClientError(Exception):
    """A connection or HTTP failure, with a message for the user; `retryable` says whether a
    retry can heal it (docs/cli.md, "Retries")."""

    def __init__(self, message: str, status: int = 0, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = (status in RETRYABLE_STATUS if status else True) if retryable is None else retryable


def connect_error(endpoint: "Endpoint", exc: BaseException) -> ClientError:
    """The ClientError of a failed connection or exchange: TLS verification failures and a stale
    unix socket (nobody listening, no live daemon process) cannot heal; resets and refusals can."""
    where = endpoint.describe()
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ClientError(f"TLS verification of {where} failed: {exc.verify_message or exc} "
                           "(check the context's ca)", retryable=False)
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return ClientError(f"TLS with {where} failed: {exc}", retryable=False)
    if isinstance(exc, ConnectionRefusedError) and endpoint.unix_path and not _daemon_alive(endpoint.pid_file):
        return ClientError(f"the daemon is not running: {where} is a stale socket (nobody listens and "
                           f"no daemon holds {endpoint.pid_file or 'its pid file'}); "
                           "start it with `om daemon start`", retryable=False)
    return ClientError(f"cannot reach the daemon API at {where}: {exc}")


def _daemon_alive(pid_file: str) -> bool:
    """True when a daemon holds `pid_file`'s lock (as omd status tests it: a pid in the file
    may be stale or reused), or when it cannot be judged (then retrying is the safe side)."""
    import fcntl
    import os

    if not pid_file:
        return True
    try:
        fd = os.open(pid_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class Endpoint:
    """Where the API is: a unix socket path, or a URL with a bearer token and a CA file."""

    unix_path: str = ""
    url: str = ""
    token: str = ""
    ca: str = ""
    insecure: bool = False
    pid_file: str = ""
    ssl_context: ssl.SSLContext | None = None

    @staticmethod
    def tls_context(ca: str, insecure: bool) -> ssl.SSLContext:
        """The client TLS context; OSError or ssl.SSLError when the ca file is missing, unreadable
        or holds no certificate (the caller names the setting)."""
        ctx = ssl.create_default_context(cafile=ca or None)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def describe(self) -> str:
        return self.unix_path or self.url

    def connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.unix_path:
            return _UnixConnection(self.unix_path, timeout)
        parts = urlsplit(self.url)
        if parts.scheme == "https":
            ctx = self.ssl_context or self.tls_context(self.ca, self.insecure)
            return http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)

    def headers(self) -> dict[str, str]:
        h = {"Accept": "text/event-stream, application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """A JSON request; returns the decoded body or raises ClientError with the problem detail."""
        conn = self.connection(timeout)
        headers = self.headers()
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise connect_error(self, exc) from None
        finally:
            conn.close()
        if resp.status >= 400:
            raise ClientError(_problem(resp.status, raw), resp.status)
        return json.loads(raw) if raw else None


def _problem(status: int, raw: bytes) -> str:
    try:
        doc = json.loads(raw)
        return f"{status} {doc.get('title', '')}: {doc.get('detail', '')}"
    except ValueError:
        return f"{status}: {raw[:200].decode(errors='replace')}"


@dataclass(slots=True)
class Envelope:
    """One event as the CLI handles it: `data` is the raw JSON bytes (None for comments)."""

    kind: str
    id: int | None
    at: str
    data: bytes


def _parse_block(block: bytes) -> Envelope | None:
    """One SSE event block (lines without the blank separator); None for comments."""
    kind, eid, at, data = "", None, "", None
    for line in block.split(b"\n"):
        if line.startswith(b"data: "):
            data = line[6:]
        elif line.startswith(b"event: "):
            kind = line[7:].decode()
        elif line.startswith(b"id: "):
            eid = int(line[4:])
        elif line.startswith(b"time: "):
            at = line[6:].decode()
    return None if data is None else Envelope(kind, eid, at, data)


class EventStream:
    """An open `GET .../daemon/event` response, iterated as `Envelope`s."""

    def __init__(self, endpoint: Endpoint, params: list[tuple[str, str]], last_event_id: int | None,
                 timeout: float | None = None) -> None:
        query = urlencode(params)
        path = "/api/node/name/localhost/daemon/event" + (f"?{query}" if query else "")
        headers = endpoint.headers()
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn = endpoint.connection(timeout)
        try:
            self.conn.request("GET", path, headers=headers)
            self.resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise connect_error(endpoint, exc) from None
        self.stopped: str | None = None  # the reason of a `: stop <reason>` comment
        if self.resp.status != 200:
            raw = self.resp.read()
            self.conn.close()
            raise ClientError(_problem(self.resp.status, raw), self.resp.status)

    def __iter__(self) -> Iterator[Envelope]:
        # Read whatever the server has sent (read1 is chunk-aware) and split events on blank
        # lines ourselves: per-line readline() costs several times more per event.
        read1 = self.resp.read1
        buf = b""
        while True:
            try:
                chunk = read1(262144)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise ClientError(f"event stream broken: {exc}") from None
            if not chunk:
                return
            buf += chunk
            if b"\n\n" not in buf:
                continue
            *blocks, buf = buf.split(b"\n\n")
            for block in blocks:
                if block.startswith(b": stop "):
                    self.stopped = block[7:].decode(errors="replace")
                    continue
                env = _parse_block(block)
                if env is not None:
                    yield env

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
