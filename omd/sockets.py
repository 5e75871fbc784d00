"""Every bus socket omd opens: the publisher and subscriber ends, and the readiness handshake.

Sockets are made here with linger 0, options set before connect, and closed in `close()`.

Publishers use an XPUB socket connected to the bus's XSUB (bus-in) rather than a PUB: the
XPUB end *sees* the subscriptions that flow upstream, which gives two handshakes without
sleeping:

- ready: the bus process itself subscribes to `READY_TOPIC`, a topic nobody publishes. The
  bus's XSUB sends every subscription it holds to a publisher that connects, sorted by
  topic, and `READY_TOPIC` sorts last, so once a publisher has seen it, every subscription that
  existed when it connected is in force: its first events are not lost (ZeroMQ's slow joiner).
  A publisher that loses the bus (bus restart) sees the unsubscription and waits again.
- subscribed: a subscriber can subscribe to a unique probe topic after its real topics and a
  publisher can wait for that probe (`Publisher.wait_subscription`): subscriptions travel in
  order, so the real ones are in force too.

Subscribers drop malformed messages (logged once per cause, counted) and detect `seq` gaps
per (publisher, kind) (logged and counted), see docs/wire-format.md.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from typing import Any, Callable, Iterable

import msgspec
import structlog
import zmq

from .errors import FrameError
from .netopts import EndpointMonitor, TcpOptions, apply_tcp_options
from omd.model.events import KINDS, Event
from omd.model.scope import ScopeError, derive
from omd.model.wire import Message, decode, encode_data, encode_topic, rfc3339_ns

READY_TOPIC = b"\xffomd.ready"
DRAIN_INTERVAL = 0.02
# Topics unsubscribed this shortly before the bus's READY_TOPIC went with it (see _drain).
REJOIN_WINDOW = 1.0
# How often a Subscriber looks for reconnections (see Subscriber.resubscribe_if_reconnected).
MONITOR_INTERVAL = 0.05
_SNDMORE = zmq.SNDMORE
PROBE_PREFIX = b"\xffomd.probe."
# A journal subscribes to this prefix + its incarnation's first id, so that every publisher
# sees a journal arrive (at its own start, or a restarted journal) and republishes its state.
JOURNAL_TOPIC = b"\xffomd.journal."

log = structlog.get_logger()


def _new_socket(ctx: zmq.Context, kind: int) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    return sock


class Publisher:
    """Publishes events to bus-in, numbered per kind, after the ready handshake.

    `pub_id` names this publisher in the meta frame; it is unique per process start so a
    restarted publisher's `seq` restarting at 1 is not taken for a gap.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str, origin: str, name: str,
                 sndhwm: int = 100_000) -> None:
        self.origin = origin
        self.pub_id = f"{name}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._seq: dict[str, int] = {}
        self._next_drain = 0.0
        # The constant middle of the meta frame: `","origin":...,"pub":...,"seq":`.
        self._meta_middle = b'","origin":%s,"pub":%s,"seq":' % (
            json.dumps(origin).encode(), json.dumps(self.pub_id).encode())
        self.subscriptions: set[bytes] = set()
        self.journal_base: dict[bytes, dict[str, int]] = {}  # journal topic -> seqs when it joined
        self.rejoin_timeout = 3.0
        self._rejoin: set[bytes] = set()
        self._rejoin_deadline = 0.0
        self._removed: dict[bytes, float] = {}  # topic -> when it was last unsubscribed
        self._sock = _new_socket(ctx, zmq.XPUB)
        self._sock.setsockopt(zmq.SNDHWM, sndhwm)
        self._sock.setsockopt(zmq.RECONNECT_IVL, 100)
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        # Without IMMEDIATE, a connecting socket keeps its pipe across a bus restart: the
        # subscriptions of the dead bus would stay in force (never unsubscribed), and what is
        # published meanwhile would be queued for the new bus, which has no subscribers yet.
        # With it, the pipe ends with the connection and the bus's subscriptions with it.
        self._sock.setsockopt(zmq.IMMEDIATE, 1)
        self._sock.connect(endpoint)

    @property
    def socket(self) -> zmq.Socket:
        """The XPUB socket, for polling: readable when subscription messages wait."""
        return self._sock

    @property
    def sent(self) -> dict[str, int]:
        """The last seq published per kind (what a journal barrier waits for)."""
        return self._seq

    def last_seq(self, kind: str) -> int:
        """The seq of the last event of `kind` this publisher sent (0: none yet)."""
        return self._seq.get(kind, 0)

    def poll_subscriptions(self) -> None:
        """Apply the subscription messages queued so far (cheap when there are none)."""
        if self._sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._drain()

    def journal_pending(self) -> dict[str, int] | None:
        """The last seq per kind sent since the current journal joined, which it must hold
        for a barrier to pass; None when no journal is subscribed."""
        topics = self.journal_topics()
        if not topics:
            return None
        base = self.journal_base.get(max(topics), {})
        return {kind: seq for kind, seq in self._seq.items() if seq > base.get(kind, 0)}

    def journal_topics(self) -> set[bytes]:
        """The journal incarnation topics currently subscribed (see JOURNAL_TOPIC)."""
        return {t for t in self.subscriptions if t.startswith(JOURNAL_TOPIC)}

    @property
    def ready(self) -> bool:
        """True while the bus's subscriptions are known to this publisher."""
        return READY_TOPIC in self.subscriptions

    def _drain(self, timeout_ms: int = 0) -> bool:
        """Apply pending subscription messages; True when at least one was read.

        When the bus goes away, it unsubscribes every topic at once, `READY_TOPIC` last (it
        sorts last). The topics held then, and those unsubscribed in the moment before
        (`REJOIN_WINDOW`: the burst may span two drains, and a subscription may be read only
        just before its removal) are remembered in `_rejoin`, so that publishing after the bus
        is back waits (bounded by `rejoin_timeout`) for those subscribers to reconnect.
        """
        sock = self._sock
        got = False
        while sock.poll(timeout_ms, zmq.POLLIN):
            msg = sock.recv()
            got = True
            timeout_ms = 0
            topic = msg[1:]
            if msg[:1] == b"\x01":
                self.subscriptions.add(topic)
                if topic.startswith(JOURNAL_TOPIC):
                    # What was sent before a journal joined can never be journaled: barriers
                    # wait only for what follows (see journal_pending).
                    self.journal_base[topic] = dict(self._seq)
            elif msg[:1] == b"\x00":
                self.subscriptions.discard(topic)
                now = time.monotonic()
                if topic != READY_TOPIC:
                    if len(self._removed) > 4096:
                        self._removed = {t: at for t, at in self._removed.items()
                                         if now - at <= REJOIN_WINDOW}
                    self._removed[topic] = now
                    continue
                recent = {t for t, at in self._removed.items() if now - at <= REJOIN_WINDOW}
                self._rejoin = {t for t in recent | self.subscriptions
                                if not t.startswith((PROBE_PREFIX, JOURNAL_TOPIC)) and t != READY_TOPIC}
                self._rejoin_deadline = 0.0
                self._removed.clear()
        return got

    def _rejoined(self) -> bool:
        """True once the subscribers known before a bus restart are back (or the wait is over)."""
        if not self._rejoin:
            return True
        now = time.monotonic()
        if not self._rejoin_deadline:
            self._rejoin_deadline = now + self.rejoin_timeout
        if self._rejoin <= self.subscriptions or now >= self._rejoin_deadline:
            missing = self._rejoin - self.subscriptions
            if missing:
                log.warning("bus_subscribers_not_back", missing=len(missing), waited=self.rejoin_timeout)
            self._rejoin = set()
            return True
        return False

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        self._drain()
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._drain(max(1, int(left * 1000)))
        return True

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the ready handshake is done (see the module docstring)."""
        return self._wait(lambda: self.ready, timeout)

    def wait_journal(self, timeout: float = 10.0) -> bool:
        """Block until a journal's subscription (JOURNAL_TOPIC) is in force here."""
        return self._wait(lambda: bool(self.journal_topics()), timeout)

    def wait_subscription(self, prefix: bytes, timeout: float = 10.0) -> bool:
        """Block until some subscriber subscribed to exactly `prefix`."""
        return self._wait(lambda: prefix in self.subscriptions, timeout)

    def publish(self, event: Event, labels: dict[str, str] | None = None,
                ready_timeout: float = 5.0) -> bool:
        """Publish a typed event; `labels` are merged into its own (last value wins).

        Returns False (and logs) when the bus is not ready within `ready_timeout`.
        """
        if labels:
            event.labels = {**(event.labels or {}), **labels}
        return self.publish_raw(event.kind, event.labels, encode_data(event), ready_timeout)

    def publish_raw(self, kind: str, labels: dict[str, str] | None, data: bytes,
                    ready_timeout: float = 5.0) -> bool:
        """Publish already-encoded data bytes of `kind` (they must start with the labels)."""
        sock = self._sock
        now = time.monotonic()
        if now >= self._next_drain:
            # Reading subscriptions costs a syscall-heavy getsockopt: do it at most every
            # DRAIN_INTERVAL. A bus restart is noticed within that delay; what is sent to a
            # dead bus is lost whatever we check.
            self._next_drain = now + DRAIN_INTERVAL
            if sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                self._drain()
        if not self.ready and not self.wait_ready(ready_timeout):
            if ready_timeout > 0:  # 0 means best effort: the caller expects drops
                log.warning("bus_not_ready", kind=kind, waited=ready_timeout)
            return False
        if self._rejoin and ready_timeout > 0:
            self._wait(self._rejoined, self.rejoin_timeout + 0.1)
        seq = self._seq.get(kind, 0) + 1
        self._seq[kind] = seq
        # Three sends with SNDMORE copy small frames and beat send_multipart by ~3x.
        sock.send(encode_topic(kind, labels), _SNDMORE)
        sock.send(b'{"at":"%s%s%d}' % (rfc3339_ns().encode(), self._meta_middle, seq), _SNDMORE)
        sock.send(data)
        return True

    def close(self, linger_ms: int = 2000) -> None:
        """Close the socket, giving queued events up to `linger_ms` to reach the bus.

        The socket is created with linger 0 (a dead bus never blocks shutdown); closing
        waits a bounded time so that the last events published (a "stopped" status) are
        not dropped silently.
        """
        self._sock.close(linger=linger_ms)


class _PathOnly(msgspec.Struct):
    path: Any = None


_path_decoder = msgspec.json.Decoder(_PathOnly)
# The kinds whose data names an object (a `path` field).
PATH_KINDS = frozenset(name for name, info in KINDS.items() if "path" in info.type.__struct_fields__)


def _scope_ok(msg: Message) -> bool:
    """The event's labels and data agree on its object, and it carries its namespace label
    (the rule the journal holds every event to: omd.subsystems.journal.validate)."""
    try:
        path = _path_decoder.decode(msg.data).path
        scope = derive(msg.labels, None if path is None else {"path": path})
    except (ScopeError, msgspec.DecodeError, msgspec.ValidationError):
        return False
    return scope.path is None or "namespace" in msg.labels


class Subscriber:
    """Receives checked bus messages from bus-out; counts drops and seq gaps.

    `stats` counts `received`, `dropped.<cause>` and `gaps` (messages missed, summed).
    `on_gap(pub, kind, missed)` is called for each gap when given. With `scoped`, an event
    whose labels and data disagree on its object (omd.model.scope) is dropped (cause `scope`):
    the subsystems that act on events read the bus directly, not through the journal's checks.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str | Iterable[str], topics: Iterable[bytes] = (b"",),
                 validate: bool = False, rcvhwm: int = 100_000,
                 on_gap: Callable[[str, str, int], None] | None = None,
                 tcp: TcpOptions | None = None, scoped: bool = False) -> None:
        self.validate = validate
        self.scoped = scoped
        self.on_gap = on_gap
        self.stats: Counter[str] = Counter()
        self._last_seq: dict[tuple[str, str], int] = {}
        self._logged_causes: set[str] = set()
        self.sock = _new_socket(ctx, zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 100)
        self.sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if tcp is not None:
            apply_tcp_options(self.sock, tcp)
        self.topics: list[bytes] = []
        self.reconnects = 0
        self._next_monitor_check = 0.0
        # Per endpoint: a SUB connected to several publishers tells which one came back.
        self.monitor = EndpointMonitor(self.sock)
        self._monitor = self.monitor.socket
        self._waiter = zmq.Poller()  # `recv` waits for a message or a reconnect
        self._waiter.register(self.sock, zmq.POLLIN)
        self._waiter.register(self._monitor, zmq.POLLIN)
        for topic in topics:
            self.subscribe(topic)
        for ep in ([endpoint] if isinstance(endpoint, str) else endpoint):
            self.sock.connect(ep)

    def subscribe(self, topic: bytes) -> None:
        """Add a subscription prefix (b"" is everything)."""
        self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.topics.append(topic)

    def unsubscribe(self, topic: bytes) -> None:
        """Remove a subscription prefix."""
        self.sock.setsockopt(zmq.UNSUBSCRIBE, topic)
        if topic in self.topics:
            self.topics.remove(topic)

    def probe(self) -> bytes:
        """Subscribe to a fresh probe topic and return it (see `Publisher.wait_subscription`)."""
        topic = PROBE_PREFIX + uuid.uuid4().hex.encode()
        self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        return topic

    def resubscribe_if_reconnected(self) -> bool:
        """Announce every subscription again when the socket reconnected since the last call.

        libzmq resends a SUB's subscriptions when it reconnects to a restarted bus, but
        zeromq/libzmq#4057 and #4063 report SUB sockets that stay silent on specific topics
        after a proxy restart; we saw it once (docs/architecture.md). Announcing them
        again costs one message per topic and cannot lose anything (`renew_subscriptions`).
        `recv` calls this; loops that poll `sock` themselves call it on every turn. The monitor
        is read at most every MONITOR_INTERVAL, so per-message callers pay a clock read.
        Returns True when it renewed the subscriptions.
        """
        now = time.monotonic()
        if now < self._next_monitor_check:
            return False
        self._next_monitor_check = now + MONITOR_INTERVAL
        back = [ep for ep, change in self.monitor.poll() if change == "reconnected"]
        if back:
            self.reconnects += len(back)
            self.renew_subscriptions()
            log.info("bus_resubscribed", topics=len(self.topics), reconnects=self.reconnects,
                     endpoints=sorted(set(back)))
        return bool(back)

    def renew_subscriptions(self) -> None:
        """Send every subscription upstream again, without a moment of not being subscribed.

        SUBSCRIBE then UNSUBSCRIBE: a SUB socket counts its subscriptions per topic and sends
        every SUBSCRIBE upstream, but an UNSUBSCRIBE only when the count drops to zero, so
        the bus sees the topic once more and never sees it cancelled. (The reverse order
        cancels the topic at the bus and at every publisher until the SUBSCRIBE follows, and
        events published in between are dropped at the publisher; that most likely lost a
        "bus restarted" status in a CI run on 2026-11-27.)
        """
        for topic in self.topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, topic)
            self.sock.setsockopt(zmq.UNSUBSCRIBE, topic)

    def check(self, frames: list[bytes]) -> Message | None:
        """Decode received frames; None (dropped, logged once per cause, counted) if malformed."""
        try:
            msg = decode(frames, validate=self.validate)
        except FrameError as exc:
            self.stats[f"dropped.{exc.cause}"] += 1
            if exc.cause not in self._logged_causes:
                self._logged_causes.add(exc.cause)
                log.warning("bus_frame_dropped", cause=exc.cause, error=str(exc))
            return None
        if self.scoped and msg.kind in PATH_KINDS and not _scope_ok(msg):
            self.stats["dropped.scope"] += 1
            if "scope" not in self._logged_causes:
                self._logged_causes.add("scope")
                log.warning("bus_frame_dropped", cause="scope", kind=msg.kind, labels=msg.labels)
            return None
        self.stats["received"] += 1
        key = (msg.meta.pub, msg.kind)
        last = self._last_seq.get(key)
        self._last_seq[key] = msg.meta.seq
        if last is not None and msg.meta.seq > last + 1:
            missed = msg.meta.seq - last - 1
            self.stats["gaps"] += missed
            log.warning("bus_seq_gap", pub=msg.meta.pub, kind=msg.kind, missed=missed,
                        after=last, got=msg.meta.seq)
            if self.on_gap is not None:
                self.on_gap(msg.meta.pub, msg.kind, missed)
        return msg

    def recv(self, timeout: float | None = None) -> Message | None:
        """The next well-formed message, or None when `timeout` seconds pass first.

        While it waits it also watches the socket monitor, so a reconnect during a long wait
        renews the subscriptions at once (`resubscribe_if_reconnected`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self.sock
        while True:
            self.resubscribe_if_reconnected()
            if not sock.poll(0, zmq.POLLIN):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                ready = dict(self._waiter.poll(None if left is None else max(1, int(left * 1000))))
                if self._monitor in ready:
                    self._next_monitor_check = 0.0
                if sock not in ready:
                    continue
            msg = self.check(sock.recv_multipart())
            if msg is not None:
                return msg

    def close(self) -> None:
        """Close the socket (and its monitor)."""
        self.monitor.close()
        self.sock.close(linger=0)


__all__ = ["Publisher", "Subscriber", "READY_TOPIC", "PROBE_PREFIX", "JOURNAL_TOPIC", "rfc3339_ns"]
