"""The one runtime every subsystem process runs on.

`omd.daemon.runner` starts a subsystem instance (`nmon`, `hb#1.tx`, ...) by calling
`Runtime(...).run(cls)`. The runtime owns what every subsystem needs and writes it once:

- signals: SIGTERM/SIGINT stop, SIGHUP and others go to `Subsystem.on_signal`. A wakeup fd
  carries the signal numbers into the poll loop, so none is lost and none is handled inside a
  signal handler;
- the zmq context, created here in the child (never inherited), and the bus ends: a
  `Publisher` on bus-in and, when the subsystem declares `topics`, a `Subscriber` on bus-out
  whose subscriptions are confirmed in force before `start()` runs;
- start order: a source waits until the journal's subscription reached its publisher before
  it publishes anything (the journal starts alongside it);
- readiness: after `start()` published the subsystem's initial state, the runtime waits until
  the journal holds it (`seen` handshake, see `journal_barrier`), then reports ready to the
  supervisor, so the daemon says started only when the replayed state is complete;
- journal arrivals: a journal subscribes to a topic of its own (`sockets.JOURNAL_TOPIC` +
  incarnation); when the publisher sees a new one (a restarted journal, or the journal met at
  start), `republish()` runs, then `resynced` tells the journal which state kinds are now
  current so it forgets what a previous incarnation held and nobody republished;
- the loop: readers registered with `add_reader`, timers with `every`, bus messages to
  `on_message` then `on_idle` once per burst;
- a clean close in `finally`: `stop()`, the log publisher detached, sockets closed (the
  publisher flushes its last events), the context terminated, the socket files this instance
  owns removed.

Subsystems whose loop is not this one (the asyncio gateway, the journal's batch loop) still
use `open()`/`close()`, the signal pipe and `ready()` from here (see `Runtime.serve`).
"""

from __future__ import annotations

import signal
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import structlog
import zmq

from omd import logs
from omd.daemon import readiness
from omd.model.wire import Message, topic_prefix
from omd.sockets import Publisher, Subscriber

if TYPE_CHECKING:
    from omd.config import Config
    from omd.paths import Paths

log = structlog.get_logger()

# How long `ready()` waits for the journal to hold the initial state (then reports anyway).
BARRIER_TIMEOUT = 10.0
# How long a source waits at start for the journal's subscription (then publishes anyway).
JOURNAL_WAIT = 15.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The longest the loop sleeps: the bus subscriber's reconnect monitor is read at this pace.
IDLE_WAKE = 0.25


class Subsystem:
    """Base of a subsystem run by the runtime's own loop; override the hooks you need.

    Class attributes declare what the runtime sets up:

    - `topics`: kinds subscribed on bus-out (None: no subscriber at all);
    - `publishes`: whether the subsystem gets a publisher (and its logs go to the bus);
    - `state_kinds`: the state kinds it owns; after `republish()` the journal is told they
      are current (`resynced`), so it drops what nobody republished;
    - `start_publishes_state`: `start()` publishes the whole state (nmon); otherwise `start()`
      publishes what changed while the process was down, and the runtime adds `republish()`
      when the journal has not been resynced for `state_kinds` in its current incarnation
      (a fresh daemon, a new journal).
    """

    topics: ClassVar[tuple[str, ...] | None] = None
    publishes: ClassVar[bool] = True
    state_kinds: ClassVar[tuple[str, ...]] = ()
    start_publishes_state: ClassVar[bool] = False
    rcvhwm: ClassVar[int] = 100_000

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt

    def start(self) -> None:
        """Publish the initial state (sockets are up and subscriptions in force)."""

    def republish(self) -> None:
        """Publish the whole current state again: a journal (re)joined the bus."""

    def on_message(self, msg: Message) -> None:
        """One bus message of `topics`."""

    def on_idle(self) -> None:
        """After a burst of messages was handed to `on_message` (fold work per burst here)."""

    def on_signal(self, signum: int) -> None:
        """A signal other than SIGTERM/SIGINT (e.g. SIGHUP)."""

    def poll(self) -> float:
        """Called on every turn of the loop; returns the longest wait before the next call."""
        return IDLE_WAKE

    def stop(self) -> None:
        """The loop ended (stop signal or `rt.stop()`); publish a last state if any."""


def journal_barrier(ctx: zmq.Context, paths: "Paths", pub: Publisher, timeout: float, who: str,
                    alive: Callable[[], bool] | None = None) -> bool:
    """Wait until the journal has journaled every event `pub` published since it joined.

    The journal answers `seen <pub>` with the last seq it journaled per kind from that
    publisher; the publisher knows what it sent (`Publisher.journal_pending`). True when
    covered (or nothing to wait for: nothing published, no journal running), False on
    timeout (logged) or as soon as `alive()` says the journal is gone.
    """
    pub.poll_subscriptions()
    if not pub.journal_pending() or not (paths.run / "journal.sock").exists():
        return True
    from omd.subsystems.journal.protocol import JournalClient, JournalError

    deadline = time.monotonic() + timeout
    client = JournalClient(ctx, paths, timeout=min(2.0, timeout))
    try:
        while True:
            want = pub.journal_pending() or {}
            try:
                seen = client.seen(pub.pub_id)
            except JournalError:
                seen = {}
            if all(seen.get(kind, 0) >= seq for kind, seq in want.items()):
                return True
            if alive is not None and not alive():
                return False
            if time.monotonic() >= deadline:
                log.warning("journal_barrier_timeout", subsystem=who,
                            missing=sorted(k for k, s in want.items() if seen.get(k, 0) < s))
                return False
            time.sleep(0.01)
    finally:
        client.close()


@dataclass
class _Timer:
    interval: float
    callback: Callable[[], None]
    due: float = 0.0


@dataclass
class Runtime:
    """One subsystem instance's process (see the module docstring)."""

    instance: str
    config: "Config"
    paths: "Paths"
    owned_sockets: tuple[str, ...] = ()
    max_burst: int = 1000
    ctx: zmq.Context | None = None
    pub: Publisher | None = None
    sub: Subscriber | None = None
    exit_code: int = 0
    _stopping: bool = False
    _readers: dict[Any, Callable[[], None]] = field(default_factory=dict)
    _timers: list[_Timer] = field(default_factory=list)
    _journal_topics: set[bytes] = field(default_factory=set)
    _sig_r: socket.socket | None = None
    _sig_w: socket.socket | None = None

    @property
    def nodename(self) -> str:
        """This node's name."""
        return self.config.nodename

    # ------------------------------------------------------------------ plumbing

    def install_signals(self, extra: tuple[int, ...] = (signal.SIGHUP,)) -> socket.socket:
        """Route SIGTERM/SIGINT and `extra` into a socket the loop reads; returns its read end.

        The handler does nothing: `signal.set_wakeup_fd` writes each signal's number into the
        socket, which the loop polls, so a signal between two polls is never lost.
        """
        self._sig_r, self._sig_w = socket.socketpair()
        self._sig_r.setblocking(False)
        self._sig_w.setblocking(False)
        signal.set_wakeup_fd(self._sig_w.fileno(), warn_on_full_buffer=False)
        for sig in (*STOP_SIGNALS, *extra):
            signal.signal(sig, lambda *_: None)
        return self._sig_r

    def read_signals(self) -> list[int]:
        """The signal numbers received since the last call."""
        got: list[int] = []
        assert self._sig_r is not None
        try:
            while True:
                chunk = self._sig_r.recv(64)
                if not chunk:
                    break
                got.extend(chunk)
        except BlockingIOError:
            pass
        return got

    def open(self, topics: tuple[str, ...] | list[bytes] | None, publishes: bool = True,
             rcvhwm: int = 100_000) -> None:
        """Create the context and the bus ends; subscriptions are confirmed before returning.

        `topics` are kind names, or raw prefixes as bytes (b"" is everything).
        """
        self.ctx = zmq.Context()
        if publishes:
            self.pub = Publisher(self.ctx, self.paths.endpoint(self.paths.bus_in), self.nodename,
                                 self.instance)
        if self.pub is not None and self.journal_expected():
            # What a source publishes before the journal's subscription reaches it is
            # journaled by nobody: wait for it (the journal starts alongside us).
            if not self.pub.wait_journal(JOURNAL_WAIT):
                log.warning("journal_not_subscribed", subsystem=self.instance, waited=JOURNAL_WAIT)
        if topics is not None:
            prefixes = [t if isinstance(t, bytes) else topic_prefix(t) for t in topics]
            self.sub = Subscriber(self.ctx, self.paths.endpoint(self.paths.bus_out), topics=prefixes,
                                  rcvhwm=rcvhwm, scoped=True)
            if self.pub is not None and not self.pub.wait_subscription(self.sub.probe(), 10):
                log.warning("subscription_unconfirmed", subsystem=self.instance)

    def journal_expected(self) -> bool:
        """True when this daemon runs a journal that is not this process."""
        from omd.daemon.registry import instances

        ids = [inst.id for inst in instances(self.config)]
        return "journal" in ids and self.instance not in ("journal", "bus")

    def close(self) -> None:
        """Detach logs, close the bus ends, terminate the context, remove owned socket files."""
        logs.detach_publisher()
        if self.sub is not None:
            self.sub.close()
            self.sub = None
        if self.pub is not None:
            self.pub.close()
            self.pub = None
        for sock in list(self._readers):
            if isinstance(sock, zmq.Socket) and not sock.closed:
                sock.close(linger=0)
        self._readers.clear()
        if self.ctx is not None:
            self.ctx.term()
            self.ctx = None
        for name in self.owned_sockets:
            try:
                (self.paths.run / name).unlink()
            except FileNotFoundError:
                pass
        if self._sig_r is not None:
            signal.set_wakeup_fd(-1)
            self._sig_r.close()
            assert self._sig_w is not None
            self._sig_w.close()
            self._sig_r = self._sig_w = None

    def ready(self) -> None:
        """Report ready once the journal holds what this process published (bounded wait)."""
        self.journal_barrier()
        readiness.ready()

    def journal_barrier(self, timeout: float = BARRIER_TIMEOUT) -> bool:
        """Wait until the journal holds every event this process published (`journal_barrier`)."""
        if self.pub is None or self.ctx is None:
            return True
        return journal_barrier(self.ctx, self.paths, self.pub, timeout, self.instance)

    def journal_confirmed(self, kinds: tuple[str, ...]) -> bool:
        """True when the running journal was already resynced for all `kinds` (a restart of
        this subsystem, not of the journal); False when unknown or no journal runs."""
        if self.ctx is None or not (self.paths.run / "journal.sock").exists():
            return False
        from omd.subsystems.journal.protocol import JournalClient, JournalError

        client = JournalClient(self.ctx, self.paths, timeout=2.0)
        try:
            confirmed = set(client.stats().get("confirmed", ()))
        except JournalError:
            return False
        finally:
            client.close()
        return set(kinds) <= confirmed

    def resynced(self, kinds: tuple[str, ...]) -> None:
        """Tell the journal that `kinds` were all republished (after a barrier)."""
        if not kinds or self.ctx is None or not (self.paths.run / "journal.sock").exists():
            return
        from omd.subsystems.journal.protocol import JournalClient, JournalError

        client = JournalClient(self.ctx, self.paths, timeout=2.0)
        try:
            dropped = client.resynced(list(kinds))
            if dropped:
                log.info("journal_resynced", subsystem=self.instance, dropped=dropped)
        except JournalError as exc:
            log.warning("journal_resync_failed", subsystem=self.instance, error=str(exc))
        finally:
            client.close()

    def new_journal(self) -> bool:
        """True when a journal joined the bus since the last call (see the module docstring)."""
        pub = self.pub
        if pub is None:
            return False
        pub.poll_subscriptions()
        current = pub.journal_topics()
        fresh = current - self._journal_topics
        self._journal_topics = current
        return bool(fresh)

    # ------------------------------------------------------------------ the loop

    def add_reader(self, sock: Any, callback: Callable[[], None]) -> None:
        """Call `callback` whenever `sock` (a zmq socket or a file descriptor) is readable."""
        self._readers[sock] = callback

    def every(self, interval: float, callback: Callable[[], None], first: float | None = None) -> None:
        """Call `callback` every `interval` seconds (first after `first`, default `interval`)."""
        now = time.monotonic()
        self._timers.append(_Timer(interval, callback, now + (interval if first is None else first)))

    def stop(self, exit_code: int = 0) -> None:
        """End the loop after the current turn."""
        self._stopping = True
        self.exit_code = exit_code

    def run(self, cls: type[Subsystem]) -> int:
        """Run subsystem `cls` until a stop signal; the exit code."""
        sig_r = self.install_signals()
        try:
            self.open(cls.topics, cls.publishes, cls.rcvhwm)
            subsystem = cls(self)
            log.info("subsystem_serving", subsystem=self.instance)
            if self.pub is not None:
                logs.attach_publisher(self.pub)
            subsystem.start()
            self.new_journal()  # the journal met at start is handled here, not in the loop
            if cls.state_kinds and not cls.start_publishes_state and not self.journal_confirmed(cls.state_kinds):
                subsystem.republish()
            self.ready()
            self.resynced(cls.state_kinds)
            try:
                self._loop(subsystem, sig_r)
            finally:
                subsystem.stop()
            return self.exit_code
        finally:
            self.close()

    def _loop(self, subsystem: Subsystem, sig_r: socket.socket) -> None:
        poller = zmq.Poller()
        poller.register(sig_r, zmq.POLLIN)
        sub = self.sub
        if sub is not None:
            poller.register(sub.sock, zmq.POLLIN)
        for sock in self._readers:
            poller.register(sock, zmq.POLLIN)
        pub_sock = None
        if self.pub is not None:  # readable when subscriptions change: a journal arrives at once
            pub_sock = self.pub.socket
            poller.register(pub_sock, zmq.POLLIN)
        sig_fd = sig_r.fileno()
        timeout = 0.0
        while not self._stopping:
            now = time.monotonic()
            for timer in self._timers:
                timeout = min(timeout, max(0.0, timer.due - now))
            ready = dict(poller.poll(int(timeout * 1000)))
            if sig_r in ready or sig_fd in ready:
                for signum in self.read_signals():
                    if signum in STOP_SIGNALS:
                        self._stopping = True
                    else:
                        subsystem.on_signal(signum)
                if self._stopping:
                    return
            if sub is not None:
                sub.resubscribe_if_reconnected()
                if sub.sock in ready:
                    self._drain(subsystem, sub)
            for sock, callback in self._readers.items():
                if sock in ready:
                    callback()
            now = time.monotonic()
            for timer in self._timers:
                if now >= timer.due:
                    timer.due += timer.interval
                    if timer.due < now:  # fell behind (suspend): no burst of catch-up calls
                        timer.due = now + timer.interval
                    timer.callback()
            if self.new_journal():  # every turn: a publish() may have read the subscription
                log.info("journal_joined", subsystem=self.instance)
                subsystem.republish()
                if self.journal_barrier():
                    self.resynced(type(subsystem).state_kinds)
            timeout = min(IDLE_WAKE, max(0.0, subsystem.poll()))

    def _drain(self, subsystem: Subsystem, sub: Subscriber) -> None:
        """Hand up to `max_burst` queued messages to the subsystem, then `on_idle` once."""
        sock = sub.sock
        count = 0
        while count < self.max_burst:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            count += 1
            msg = sub.check(frames)
            if msg is None:
                continue
            try:
                subsystem.on_message(msg)
            except Exception as exc:  # noqa: BLE001 - one bad message never ends the process
                log.warning("message_dropped", subsystem=self.instance, kind=msg.kind,
                            error=f"{type(exc).__name__}: {exc}")
        if count:
            subsystem.on_idle()


__all__ = ["Runtime", "Subsystem", "BARRIER_TIMEOUT", "journal_barrier"]
