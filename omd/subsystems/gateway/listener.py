"""The gateway's TCP listener: its own accept path, with connection limits, and a bind that
retries instead of taking the process (and api.sock with it) down.

- At most `max_connections` open connections on the listener, and never more than half the
  process's descriptor limit (RLIMIT_NOFILE, whose soft limit the gateway raises to the hard
  one at start): the other half stays for api.sock, the bus and the journal, so root's local
  socket answers even when TCP is saturated. At most `max_connections_per_peer` from one IP.
- A connection over a limit is aborted as soon as it is accepted (no traceback), counted by
  cause (`omd_gateway_connections_refused`) and logged as `gateway_connection_refused`,
  rate-limited by omd.logs.
- A new connection must complete its TLS handshake within `header_timeout` (asyncio's
  handshake timeout; the limits apply once it is done), then send its first request's headers
  within `header_timeout` (slowloris); later, aiohttp's keep-alive timeout (`idle_timeout`)
  closes a connection that sends no complete request.
- A bind failure (port in use) is logged (`gateway_tcp_listen_failed`) and retried with
  backoff (`RETRY_INITIAL` doubling to `RETRY_MAX`) while api.sock serves; `state` and
  `error` say where it stands (the gateway reports them to the supervisor and in metrics).
"""

from __future__ import annotations

import asyncio
import resource
import ssl
from collections import Counter
from typing import Any, Callable

import structlog

log = structlog.get_logger()

RETRY_INITIAL = 0.5
RETRY_MAX = 30.0


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def descriptor_cap() -> int:
    """Half the current soft descriptor limit: the most TCP connections ever held."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(1, soft // 2)


class TcpListener:
    """The TCP listener of the gateway's aiohttp server (`factory`: the runner's server)."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], addr: str, port: int, *,
                 ssl_context: ssl.SSLContext | None, max_connections: int,
                 max_connections_per_peer: int, header_timeout: float,
                 on_state: Callable[["TcpListener"], None] | None = None) -> None:
        self.factory = factory
        self.addr, self.port = addr, port
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.max_per_peer = max_connections_per_peer
        self.header_timeout = header_timeout
        self.on_state = on_state
        self.state = "starting"
        self.error = ""
        self.open = 0
        self.per_peer: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.timed_out = 0
        self.bind_failures = 0
        self.server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ bind

    async def start(self) -> bool:
        """Try to bind once; on failure keep retrying in the background. True when bound."""
        if await self._bind(RETRY_INITIAL):
            return True
        self._task = asyncio.get_running_loop().create_task(self._retry())
        return False

    async def _bind(self, retry_in: float) -> bool:
        loop = asyncio.get_running_loop()
        try:
            # TLS by asyncio itself (our protocol wrapped by its SSLProtocol): a start_tls on
            # the accepted transport stalled event streams over TLS.
            tls = {} if self.ssl_context is None else {"ssl": self.ssl_context,
                                                      "ssl_handshake_timeout": self.header_timeout}
            self.server = await loop.create_server(lambda: _Guarded(self), self.addr, self.port,
                                                   backlog=128, reuse_address=True, **tls)
        except OSError as exc:
            self.bind_failures += 1
            error = exc.strerror or str(exc)
            log.error("gateway_tcp_listen_failed", addr=self.addr, port=self.port, error=error,
                      retry_in=retry_in)
            self._set("failed", f"TCP listener {self.addr}:{self.port}: {error} (retrying)")
            return False
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        log.info("gateway_tcp_listening", addr=self.addr, port=self.port, recovered=self.bind_failures > 0)
        self._set("running", "")
        return True

    async def _retry(self) -> None:
        delay = RETRY_INITIAL
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            if await self._bind(delay):
                return

    def _set(self, state: str, error: str) -> None:
        changed = (state, error) != (self.state, self.error)
        self.state, self.error = state, error
        if changed and self.on_state is not None:
            self.on_state(self)

    async def close(self) -> None:
        """Stop binding and accepting (open connections are the aiohttp server's to end)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        self.state = "stopped"

    # ------------------------------------------------------------------ admission

    def admit(self, peer: str) -> str:
        """"" when a new connection from `peer` may be served, else the cause of the refusal."""
        if self.open >= min(self.max_connections, descriptor_cap()):
            return "listener"
        if self.per_peer[peer] >= self.max_per_peer:
            return "peer"
        self.open += 1
        self.per_peer[peer] += 1
        return ""

    def release(self, peer: str) -> None:
        self.open -= 1
        self.per_peer[peer] -= 1
        if self.per_peer[peer] <= 0:
            del self.per_peer[peer]

    def refuse(self, peer: str, cause: str) -> None:
        self.refused[cause] += 1
        log.warning("gateway_connection_refused", peer=peer, cause=cause, open=self.open,
                    limit=min(self.max_connections, descriptor_cap()) if cause == "listener" else self.max_per_peer)


class _Guarded(asyncio.Protocol):
    """One accepted TCP connection (after its TLS handshake, done by asyncio): admission,
    header timeout, then the aiohttp handler (every protocol call forwarded to it)."""

    def __init__(self, listener: TcpListener) -> None:
        self.listener = listener
        self.inner: Any = None
        self.peer: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tail = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        cause = self.listener.admit(peer)
        if cause:
            self.listener.refuse(peer, cause)
            transport.abort()
            return
        self.peer = peer
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.listener.header_timeout, self._header_timeout)
        self._attach(transport)

    def _attach(self, transport: Any) -> None:
        self.inner = self.listener.factory()
        self.inner.connection_made(transport)

    def _header_timeout(self) -> None:
        self.timer = None
        self.listener.timed_out += 1
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.timer is not None:
            seen = self.tail + data
            if b"\n\n" in seen or b"\n\r\n" in seen:  # the end of the first request's headers
                self.timer.cancel()
                self.timer = None
            else:
                self.tail = seen[-2:]
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if self.inner is not None:
            inner, self.inner = self.inner, None
            inner.connection_lost(exc)

    def _release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.peer is not None:
            peer, self.peer = self.peer, None
            self.listener.release(peer)
