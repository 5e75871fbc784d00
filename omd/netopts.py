"""TCP options of zmq sockets, and the connection history of each endpoint of one socket.

A SUB connected to several peers (heartbeat rx connects to every peer's tx) has one socket for
all of them, so "the socket reconnected" does not say which peer went away. `EndpointMonitor`
reads the socket's monitor and keeps, per endpoint given to `connect()`, how many times it
connected, lost the connection, failed the handshake and came back.

`TcpOptions` is the part of a config section that tunes a TCP link; `apply_tcp_options` sets
it on a socket, which must happen before `connect()`/`bind()` (libzmq reads these options when
it creates a connection, so later changes do not reach the existing ones).
"""

from __future__ import annotations

from typing import Callable

import msgspec
import structlog
import zmq
from zmq.utils.monitor import parse_monitor_message

log = structlog.get_logger()


class TcpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How a TCP link notices a dead peer and how fast it reconnects. Times are in seconds."""

    # TCP keepalive probes find a peer that vanished without closing (power loss, a
    # partition), where nothing would be read or written for the connection to fail.
    keepalive: bool = True
    # Idle seconds before the first probe, seconds between probes, probes unanswered before
    # the connection is dropped: a dead peer is noticed after idle + intvl * cnt (110 s).
    keepalive_idle: int = 60
    keepalive_intvl: int = 10
    keepalive_cnt: int = 5
    # First wait before reconnecting to a peer, doubled on each failure up to the max.
    reconnect_ivl: float = 0.1
    reconnect_ivl_max: float = 5.0

    def __post_init__(self) -> None:
        if min(self.keepalive_idle, self.keepalive_intvl, self.keepalive_cnt) < 1:
            raise ValueError("keepalive_idle, keepalive_intvl and keepalive_cnt must be >= 1")
        if self.reconnect_ivl <= 0 or self.reconnect_ivl_max < self.reconnect_ivl:
            raise ValueError("reconnect_ivl must be > 0 and reconnect_ivl_max >= reconnect_ivl")


def apply_tcp_options(sock: zmq.Socket, opts: TcpOptions) -> None:
    """Set `opts` on `sock`; call it before `connect()` or `bind()` (see the module docstring)."""
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1 if opts.keepalive else 0)
    if opts.keepalive:
        sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, opts.keepalive_idle)
        sock.setsockopt(zmq.TCP_KEEPALIVE_INTVL, opts.keepalive_intvl)
        sock.setsockopt(zmq.TCP_KEEPALIVE_CNT, opts.keepalive_cnt)
    # libzmq wants milliseconds; at least 1, since 0 would mean "no backoff" for the max.
    sock.setsockopt(zmq.RECONNECT_IVL, max(1, round(opts.reconnect_ivl * 1000)))
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, max(1, round(opts.reconnect_ivl_max * 1000)))


class EndpointStats(msgspec.Struct, kw_only=True):
    """The connection history of one endpoint of a monitored socket."""

    # "connecting" (never connected, or retrying), "connected" (TCP up, handshake pending),
    # "up" (handshake done, messages flow), "down" (lost, libzmq retries on its own) or
    # "failing" (the last handshake failed; libzmq retries, the monitor logs once).
    state: str = "connecting"
    connects: int = 0  # TCP connections established
    handshakes: int = 0  # ZMTP handshakes completed: the link was usable
    disconnects: int = 0
    handshake_failures: int = 0
    reconnects: int = 0  # handshakes completed after the first: the link came back
    retries: int = 0  # connection attempts libzmq scheduled again after a failure
    last_failure: str = ""  # e.g. "handshake_failed_protocol (value 0x11000001)"


_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL \
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
_WATCHED = (zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_DISCONNECTED
            | zmq.EVENT_HANDSHAKE_SUCCEEDED | _HANDSHAKE_FAILED | zmq.EVENT_MONITOR_STOPPED)


class EndpointMonitor:
    """Counts connects, disconnects, handshake failures and reconnects per endpoint of `sock`.

    Create it before `sock.connect()` so the first connection is seen. `poll()` reads what
    the monitor has queued (never blocking) and returns the changes as (endpoint, event)
    pairs, in order; event is "connected", "disconnected", "retried", "up" (first handshake),
    "reconnected" (a later one) or "handshake_failed_<no_detail|protocol|auth>". The same
    pairs go to `on_change(endpoint, event, stats)` when given. Register `socket` in a poller
    to be woken when there is something to read.

    Endpoints are those given to `connect()`; on a bound socket every peer shares the bind
    endpoint, so a monitor tells peers apart only on the connecting side.

    libzmq 4.3 retries an endpoint whose handshake failed for want of authentication (a CURVE
    key mismatch: `handshake_failed_no_detail`, again every reconnect interval) but gives up on
    one that failed with a protocol error (`handshake_failed_protocol`, e.g. another security
    mechanism): that endpoint stays `failing` with no retry until its owner disconnects and
    connects it again.
    """

    def __init__(self, sock: zmq.Socket,
                 on_change: Callable[[str, str, EndpointStats], None] | None = None) -> None:
        self._sock = sock
        self.on_change = on_change
        self.socket: zmq.Socket = sock.get_monitor_socket(_WATCHED)
        self.endpoints: dict[str, EndpointStats] = {}
        self.malformed = 0
        self._closed = False

    def stats(self, endpoint: str) -> EndpointStats:
        """The history of `endpoint` (all zero when nothing was seen on it yet)."""
        return self.endpoints.get(endpoint) or EndpointStats()

    def poll(self) -> list[tuple[str, str]]:
        """Read every queued monitor event; the (endpoint, event) changes they make, in order."""
        changes: list[tuple[str, str]] = []
        while not self._closed and self.socket.poll(0, zmq.POLLIN):
            frames = self.socket.recv_multipart()
            try:
                message = parse_monitor_message(frames)
                event, value = int(message["event"]), int(message["value"])
                endpoint = message["endpoint"].decode("utf-8", "replace")
            except (RuntimeError, ValueError, KeyError):
                # Not a monitor message as libzmq writes them: count it, never stop on it.
                self.malformed += 1
                continue
            if event == zmq.EVENT_MONITOR_STOPPED:
                self._closed = True
                break
            change = self._apply(endpoint, event, value)
            if change is None:
                continue
            changes.append((endpoint, change))
            if self.on_change is not None:
                self.on_change(endpoint, change, self.endpoints[endpoint])
        return changes

    def _apply(self, endpoint: str, event: int, value: int) -> str | None:
        st = self.endpoints.setdefault(endpoint, EndpointStats())
        if event == zmq.EVENT_CONNECTED:
            st.connects += 1
            if st.state != "failing":
                st.state = "connected"
            return "connected"
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            st.handshakes += 1
            st.state = "up"
            if st.handshakes == 1:
                return "up"
            st.reconnects += 1
            return "reconnected"
        if event == zmq.EVENT_DISCONNECTED:
            st.disconnects += 1
            if st.state != "failing":
                st.state = "down"
            return "disconnected"
        if event == zmq.EVENT_CONNECT_RETRIED:
            st.retries += 1
            if st.state not in ("down", "failing"):
                st.state = "connecting"
            return "retried"
        if event & _HANDSHAKE_FAILED:
            st.handshake_failures += 1
            name = f"handshake_failed_{zmq.Event(event).name.removeprefix('HANDSHAKE_FAILED_').lower()}"
            # Logged once per streak: libzmq retries every reconnect_ivl_max, forever.
            if st.state != "failing":
                log.warning("endpoint_handshake_failed", endpoint=endpoint, failure=name, value=value)
            st.state = "failing"
            st.last_failure = f"{name} (value {value:#x})"
            return name
        return None

    def close(self) -> None:
        """Stop monitoring and close the monitor socket (the monitored socket stays open)."""
        if self.socket.closed:
            return
        try:
            self._sock.disable_monitor()
        except zmq.ZMQError:
            pass  # the monitored socket is already closed, which stopped the monitor too
        self.socket.close(linger=0)
