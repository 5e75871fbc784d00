"""The supervisor: the `omd` process that starts, watches and restarts every subsystem.

It owns the daemon's life cycle:

- one daemon per root, enforced by an flock on the pid file;
- the bus starts first (ready once the supervisor's publisher completed the bus handshake),
  then the journal and the gateway, then, once the journal is ready, the other instances of
  omd.daemon.registry (sources also wait in their runtime until the journal's subscription
  reaches them, so that their first events are journaled), each its own process
  (`python -m omd.daemon.runner ID`) in its own process group (a terminal's Ctrl-C reaches
  the supervisor only: the supervisor alone decides the order of a stop), `starting` until it
  reports ready through its readiness pipe (omd.daemon.readiness); the daemon is `started`
  (READY=1 for systemd) once all are ready, or `degraded` at `start_timeout`;
- a subsystem that dies is restarted with exponential backoff, its socket files are removed,
  the daemon is `degraded` until it runs again, and each change of state is published
  (DaemonStatusUpdated with the `subsystems` map, plus the subsystem's own Daemon*Updated
  kind where one exists) and written to `status.json` for `omd status`;
- WatchDog is published every `watchdog_interval`; the supervisor receives it back through
  the bus and pings the systemd watchdog only while that round trip works;
- DaemonCtl restarts one instance, obeyed only from the gateway process (its publisher id
  names the gateway and the gateway's current pid), as the kind's publish rights say;
- SIGTERM/SIGINT stop everything in reverse order (SIGKILL after `stop_grace`); SIGHUP reloads
  the configuration and restarts only the instances whose configuration changed (a bad or
  missing file, or a node rename, is logged and the running configuration kept).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
import zmq

from omd import __version__, config as configmod, logs
from omd.config import Config
from omd.errors import AlreadyRunningError, ConfigError
from omd.model.events import KINDS, DaemonStatusUpdated, WatchDog, publisher_name, publisher_pid
from omd.paths import Paths
from omd.daemon.sdnotify import Notifier
from omd.daemon.readiness import READY_FD_ENV
from omd.daemon.registry import EXIT_REFUSED, STATE_KINDS, Instance, instances
from omd.daemon.runtime import journal_barrier
from omd.daemon.zygote import ForkedProcess, Zygote, ZygoteError, set_child_subreaper
from omd.sockets import Publisher, Subscriber
from omd.model.wire import rfc3339_ns, topic_prefix

log = structlog.get_logger()

# How long the sources are held for the journal to be ready before they start anyway.
JOURNAL_START_WAIT = 15.0
# Started with the journal, not held: they publish nothing the journal must see at start,
# and the gateway's imports are the slowest.
FIRST_WAVE = frozenset({"journal", "gateway"})
# How long "started" waits for the journal to hold the supervisor's own state events.
STARTED_BARRIER = 3.0


def next_backoff(previous: float, ran_for: float, initial: float, maximum: float, reset_after: float) -> float:
    """The delay before restarting a subsystem that died after running `ran_for` seconds.

    Doubles from `initial` up to `maximum` while the process keeps dying young; a process that
    ran `reset_after` seconds or more starts over at `initial`.
    """
    if ran_for >= reset_after:
        return initial
    return min(max(previous * 2, initial), maximum)


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload does: instances to stop (gone), restart (changed) and start (new)."""

    stop: tuple[str, ...]
    restart: tuple[str, ...]
    start: tuple[str, ...]
    order: tuple[Instance, ...]


def plan_reload(running: dict[str, bytes], new: Config) -> ReloadPlan:
    """Compare the running instances' configuration signatures with `new` (pure)."""
    order = tuple(instances(new))
    wanted = {inst.id: inst for inst in order}
    stop = tuple(i for i in reversed(list(running)) if i not in wanted)
    restart = tuple(inst.id for inst in order if inst.id in running
                    and running[inst.id] != inst.kind.signature(new))
    start = tuple(inst.id for inst in order if inst.id not in running)
    return ReloadPlan(stop, restart, start, order)


@dataclass
class Child:
    """One subsystem instance's process and its restart bookkeeping."""

    name: str
    instance: Instance
    signature: bytes = b""
    proc: subprocess.Popen[bytes] | ForkedProcess | None = None
    state: str = "stopped"
    restarts: int = 0
    backoff: float = 0.0
    next_start: float = 0.0
    started_mono: float = 0.0
    started_at: str = ""
    ready_at: str = ""
    last_exit: int | None = None
    ready_fd: int | None = None  # read end of the readiness pipe until the child reports
    held: bool = False  # not spawned yet: waits for the journal (see Supervisor.run)
    planned: bool = False  # the next start is a requested restart (reload, DaemonCtl), not a crash
    extra: dict[str, Any] = field(default_factory=dict)
    degraded: str = ""  # why a running child says it is degraded (omd.daemon.readiness.health)
    ready_buf: bytes = b""

    @classmethod
    def of(cls, instance: Instance, config: Config) -> "Child":
        """A stopped child for `instance` under `config`."""
        return cls(instance.id, instance, instance.kind.signature(config))

    def as_dict(self) -> dict[str, Any]:
        """The state published in DaemonStatusUpdated.subsystems and status.json."""
        return {
            "state": self.state,
            "pid": self.proc.pid if self.proc and self.proc.poll() is None else 0,
            "restarts": self.restarts,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "last_exit": self.last_exit,
            "degraded": self.degraded,
        }


class PidLock:
    """The pid file, locked with flock for as long as the daemon runs."""

    def __init__(self, paths: Paths) -> None:
        self.path = paths.pid_file
        self.fd: int | None = None

    def acquire(self) -> None:
        """Lock and write our pid; `AlreadyRunningError` if another daemon holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunningError(
                f"omd is already running on root {self.path.parents[3]} (pid {other}); "
                f"stop it with `omd --root {self.path.parents[3]} stop`"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        """Remove the pid file and drop the lock."""
        if self.fd is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self.fd)
            self.fd = None


def running_pid(paths: Paths) -> int | None:
    """The pid of the daemon running on `paths`, or None (tested by the flock, not the file)."""
    try:
        fd = os.open(paths.pid_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(fd, 32).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None


class Supervisor:
    """Runs the daemon in the foreground until told to stop; `run()` returns the exit code."""

    def __init__(self, config: Config, paths: Paths) -> None:
        self.config = config
        self.paths = paths
        self.nodename = config.nodename
        self.children = {inst.id: Child.of(inst, config) for inst in instances(config)}
        self.notifier = Notifier()
        self.ctx: zmq.Context | None = None
        self.pub: Publisher | None = None
        self.sub: Subscriber | None = None
        self.status = "starting"
        self._signals: list[int] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._poller = zmq.Poller()
        self._start_deadline = 0.0
        self._last_watchdog_sent = 0.0
        self._last_watchdog_seen = 0.0
        self._last_sd_ping = 0.0
        self._journal_topics: set[bytes] = set()
        self._journal_wait_until = 0.0
        self.zygote: Zygote | None = None
        self._zygote_started = -1e9

    # ---------------------------------------------------------------- life cycle

    def run(self) -> int:
        """Start the bus and the subsystems, supervise them, stop on a signal."""
        self.paths.make_dirs()
        lock = PidLock(self.paths)
        lock.acquire()
        try:
            configmod.ensure_secret(self.paths)
            self._install_signals()
            self.ctx = zmq.Context()
            self._start_zygote()  # imports while the bus starts as a fresh interpreter
            if not self._start_bus():
                self.notifier.notify("STATUS=bus failed to start")
                return 1
            self.notifier.notify(f"STATUS=bus up, node {self.nodename}, starting the subsystems")
            self._publish_status("starting")
            self._start_deadline = time.monotonic() + self.config.daemon.start_timeout
            # The journal first, alone with the gateway: uncontended, it is ready in a fraction
            # of the time it takes when every interpreter starts at once, and the sources wait
            # for it anyway (see omd.daemon.runtime).
            journal = self.children.get("journal")
            self._journal_wait_until = time.monotonic() + min(JOURNAL_START_WAIT,
                                                              self.config.daemon.start_timeout)
            for child in self.children.values():
                if child.name == "bus":
                    continue
                if journal is not None and child.name not in FIRST_WAVE:
                    child.state, child.held = "starting", True
                else:
                    self._spawn(child)
            self._release_held()
            self._loop()
            return 0
        finally:
            self._shutdown()
            lock.release()

    def _install_signals(self) -> None:
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals.append(signum)

    def _start_bus(self) -> bool:
        assert self.ctx is not None
        bus = self.children["bus"]
        self._spawn(bus)
        self.pub = Publisher(self.ctx, self.paths.endpoint(self.paths.bus_in), self.nodename, "daemon")
        self.sub = Subscriber(self.ctx, self.paths.endpoint(self.paths.bus_out), topics=[topic_prefix("WatchDog"), topic_prefix("DaemonCtl")])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.pub.wait_ready(0.2):
                self._bus_ready(bus)
                return True
            if bus.proc is not None and bus.proc.poll() is not None:
                log.error("bus_start_failed", exit_code=bus.proc.returncode)
                return False
        log.error("bus_start_timeout")
        return False

    def _loop(self) -> None:
        assert self.sub is not None
        poller = self._poller
        poller.register(self.sub.sock, zmq.POLLIN)
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        assert self.pub is not None
        poller.register(self.pub.socket, zmq.POLLIN)  # subscriptions: a journal arriving
        while True:
            timeout = self._next_timeout()
            self.sub.resubscribe_if_reconnected()
            for sock, _ in poller.poll(int(timeout * 1000)):
                if sock is self.sub.sock:
                    self._read_bus()
                elif sock != self._wake_r.fileno():
                    self._read_ready(sock)
                else:
                    try:
                        while self._wake_r.recv(512):
                            pass
                    except BlockingIOError:
                        pass
            signals, self._signals = self._signals, []
            if signal.SIGTERM in signals or signal.SIGINT in signals:
                log.info("daemon_stopping", signal=[signal.Signals(s).name for s in signals])
                return
            if signal.SIGHUP in signals:
                self._reload()
            self._reap()
            self._start_due()
            self._release_held()
            self._check_started()
            self._check_journal()
            self._watchdog()

    def _next_timeout(self) -> float:
        now = time.monotonic()
        timeout = max(0.0, self._last_watchdog_sent + self.config.daemon.watchdog_interval - now)
        for child in self.children.values():
            if child.state == "restarting":
                timeout = min(timeout, max(0.0, child.next_start - now))
        if self.status == "starting":
            timeout = min(timeout, max(0.0, self._start_deadline - now))
        if any(c.held for c in self.children.values()):
            timeout = min(timeout, max(0.0, self._journal_wait_until - now))
        return min(timeout, 1.0)

    # ---------------------------------------------------------------- children

    def _config_fd(self) -> int:
        """An anonymous memory file holding the configuration, positioned at its start.

        Neither the environment (limited to 128 KiB per variable, and readable in
        /proc/<pid>/environ) nor the command line carries it.
        """
        fd = os.memfd_create("omd-config", os.MFD_CLOEXEC)
        view = memoryview(msgspec.json.encode(self.config))
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        return env

    def _start_zygote(self) -> None:
        """Start the zygote (omd.daemon.zygote) when configured and possible; else children are
        fresh interpreters. Tried again at most once a minute after it died."""
        if not self.config.daemon.zygote or time.monotonic() - self._zygote_started < 60:
            return
        self._zygote_started = time.monotonic()
        if not set_child_subreaper():
            log.warning("zygote_unavailable", reason="PR_SET_CHILD_SUBREAPER refused")
            return
        self.zygote = Zygote(str(self.paths.root), self._child_env())
        try:
            self.zygote.start()
        except OSError as exc:
            log.warning("zygote_unavailable", reason=str(exc))
            self.zygote = None
            return
        log.info("zygote_started", zygote_pid=self.zygote.pid)

    def _zygote_for(self, child: Child) -> Zygote | None:
        """The ready zygote to fork `child` from, or None (then it is a fresh interpreter).

        The bus does not wait for it: the zygote imports while the bus starts.
        """
        z = self.zygote
        if z is not None and not z.alive():
            log.warning("zygote_died", exit_code=z.proc.poll() if z.proc else None)
            z.close()
            self.zygote = z = None
            self._start_zygote()
            z = self.zygote
        if z is None:
            return None
        if z.ready or (child.name != "bus" and z.wait_ready(30)):
            return z
        if not z.alive():
            log.warning("zygote_failed", exit_code=z.proc.poll() if z.proc else None)
            self.zygote = None
        return None

    def _spawn(self, child: Child) -> None:
        self._close_ready(child)
        child.held = False
        ready_r, ready_w = os.pipe()
        config_fd = self._config_fd()
        try:
            zygote = self._zygote_for(child)
            child.proc = None
            if zygote is not None:
                try:
                    child.proc = zygote.spawn(child.name, (ready_w, config_fd))
                except ZygoteError as exc:
                    log.warning("zygote_spawn_failed", name=child.name, error=str(exc))
            if child.proc is None:
                env = self._child_env()
                env[READY_FD_ENV] = str(ready_w)
                # -P: no current directory on sys.path, so a daemon started from a checkout runs
                # the installed omd in its children too, not the checkout's (which may lack the
                # C matcher).
                cmd = [sys.executable, "-P", "-m", "omd.daemon.runner", child.name, "--root",
                       str(self.paths.root), "--parent", str(os.getpid()), "--config-fd", str(config_fd)]
                # Its own process group: a terminal's SIGINT (Ctrl-C) or `timeout`'s signal to
                # our group reaches the supervisor only, which then stops the children in order.
                child.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                              pass_fds=(ready_w, config_fd), process_group=0)
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
            os.close(config_fd)
        os.set_blocking(ready_r, False)
        child.ready_fd = ready_r
        self._poller.register(ready_r, zmq.POLLIN)
        child.state = "starting"
        child.ready_at = ""
        child.degraded, child.ready_buf = "", b""
        child.started_mono = time.monotonic()
        child.started_at = rfc3339_ns()
        log.info("subsystem_started", name=child.name, child_pid=child.proc.pid, restarts=child.restarts,
                 forked=isinstance(child.proc, ForkedProcess))

    def _read_ready(self, fd: int) -> None:
        """A readiness pipe is readable: the child reported ready, or exited without it."""
        child = next((c for c in self.children.values() if c.ready_fd == fd), None)
        if child is None:  # cannot happen: every registered pipe belongs to a child
            self._poller.unregister(fd)
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:  # the child exited (or closed its end)
            self._close_ready(child)
            return
        child.ready_buf += data
        *lines, rest = child.ready_buf.split(b"\n")
        child.ready_buf = rest
        for line in lines:
            word, _, reason = line.decode(errors="replace").partition(" ")
            if word == "ready" and child.state == "starting":
                self._mark_ready(child)
            elif word in ("degraded", "healthy") and child.state == "running":
                self._set_health(child, reason if word == "degraded" else "")

    def _set_health(self, child: Child, reason: str) -> None:
        """A running subsystem reported itself degraded (`reason`) or healthy again ("")."""
        if reason == child.degraded:
            return
        child.degraded = reason
        if reason:
            log.error("subsystem_degraded", name=child.name, reason=reason)
            status = "degraded" if self.status == "started" else self.status
        else:
            log.info("subsystem_healthy", name=child.name)
            status = self.status
            if status == "degraded" and self._all_running():
                status = "started"
                log.info("daemon_recovered", node=self.nodename)
        self._publish_status(status, child)

    def _mark_ready(self, child: Child) -> None:
        child.state = "running"
        child.ready_at = rfc3339_ns()
        log.info("subsystem_ready", name=child.name, child_pid=child.proc.pid if child.proc else 0,
                 after=round(time.monotonic() - child.started_mono, 3))
        if self.status == "degraded" and self._all_running():
            self.status = "started"
            log.info("daemon_recovered", node=self.nodename)
        if child.name == "bus":
            self._write_status()  # the caller publishes once the bus is known ready
        else:
            self._publish_status(self.status, child)
        if child.name == "journal":
            self._release_held()

    def _all_running(self) -> bool:
        return all(c.state == "running" and not c.degraded for c in self.children.values())

    def _release_held(self) -> None:
        """Spawn the subsystems held for the journal once it is ready (or has had its time)."""
        held = [c for c in self.children.values() if c.held]
        if not held:
            return
        journal = self.children.get("journal")
        if journal is not None and journal.state != "running" and time.monotonic() < self._journal_wait_until:
            return
        if journal is not None and journal.state != "running":
            log.error("journal_not_ready", waited=JOURNAL_START_WAIT, starting=[c.name for c in held])
        for child in held:
            self._spawn(child)

    def _bus_ready(self, bus: Child) -> None:
        """The bus is ready when its subscriptions reach our publisher, whatever its pipe says."""
        assert self.pub is not None
        self._close_ready(bus)
        self._mark_ready(bus)
        logs.attach_publisher(self.pub)

    def _close_ready(self, child: Child) -> None:
        if child.ready_fd is not None:
            self._poller.unregister(child.ready_fd)
            os.close(child.ready_fd)
            child.ready_fd = None

    def _check_started(self) -> None:
        """Say "started" (and READY=1 to systemd) once every subsystem is ready, or at the
        start deadline, naming the subsystems that are not."""
        if self.status != "starting":
            return
        waiting = [c.name for c in self.children.values() if c.state != "running"]
        if waiting and time.monotonic() < self._start_deadline:
            return
        # Logged before status.json says "started": whoever reads that file finds the record.
        if waiting:
            log.error("daemon_started_degraded", not_ready=waiting,
                      start_timeout=self.config.daemon.start_timeout)
        log.info("daemon_started", node=self.nodename, root=str(self.paths.root),
                 version=__version__, subsystems=list(self.children), not_ready=waiting)
        status = "degraded" if waiting or any(c.degraded for c in self.children.values()) else "started"
        # status.json says it once the journal holds our own state too: whoever reads the
        # file and then asks for a replay finds the whole node in it.
        self._publish_status(status, write=False)
        if self.ctx is not None and self.pub is not None and not waiting:
            journal = self.children.get("journal")
            journal_barrier(self.ctx, self.paths, self.pub, STARTED_BARRIER, "daemon",
                            alive=lambda: journal is not None and journal.proc is not None
                            and journal.proc.poll() is None)
        self._write_status()
        detail = f"not ready: {', '.join(waiting)}" if waiting else "all subsystems ready"
        self.notifier.notify("READY=1", f"STATUS=node {self.nodename}, {detail}")

    def _reap_orphans(self) -> None:
        """Wait for descendants re-parented to us (we are a subreaper for the zygote's children):
        a job of a killed scheduler, say. Our own children are left to their `poll()`."""
        known = {c.proc.pid: c.proc for c in self.children.values() if c.proc is not None}
        if self.zygote is not None and self.zygote.proc is not None:
            known[self.zygote.proc.pid] = self.zygote.proc
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            proc = known.pop(info.si_pid, None)
            if proc is not None:
                proc.poll()  # collects it; its child's _reap sees the exit code
                continue
            try:
                os.waitpid(info.si_pid, 0)
            except ChildProcessError:
                pass
            log.info("orphan_reaped", pid=info.si_pid, exit_status=info.si_status)

    def _reap(self) -> None:
        self._reap_orphans()
        for child in self.children.values():
            if child.proc is None or child.state not in ("starting", "running"):
                continue
            rc = child.proc.poll()
            if rc is None:
                continue
            self._close_ready(child)
            child.last_exit = rc
            child.degraded = ""
            d = self.config.daemon
            child.backoff = next_backoff(child.backoff, time.monotonic() - child.started_mono,
                                         d.restart_backoff_initial, d.restart_backoff_max,
                                         d.restart_backoff_reset)
            if rc == EXIT_REFUSED:  # it refused to start (a message in its log says why): no loop
                child.state = "failed"
                log.error("subsystem_refused_to_start", name=child.name, exit_code=rc)
            else:
                child.state = "restarting"
                child.next_start = time.monotonic() + child.backoff
                log.error("subsystem_died", name=child.name, exit_code=rc, restart_in=child.backoff)
            self._remove_sockets(child)
            status = "degraded" if self.status == "started" else self.status
            if child.name == "bus":
                logs.detach_publisher()
                self.status = status
            else:
                self._publish_status(status, child)
            self._write_status()

    def _remove_sockets(self, child: Child) -> None:
        """A dead subsystem's socket files accept nothing: remove them (its successor binds anew)."""
        for name in child.instance.kind.sockets:
            try:
                (self.paths.run / name).unlink()
            except FileNotFoundError:
                pass

    def _start_due(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.state == "restarting" and now >= child.next_start:
                if not child.planned:
                    child.restarts += 1
                child.planned = False
                self._spawn(child)
                if child.name == "bus":
                    assert self.pub is not None
                    if self.pub.wait_ready(10):
                        self._bus_ready(child)
                self._publish_status(self.status, child)

    def _stop_child(self, child: Child) -> None:
        proc = child.proc
        self._close_ready(child)
        if proc is None or proc.poll() is not None:
            child.state = "stopped"
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.config.daemon.stop_grace)
        except subprocess.TimeoutExpired:
            log.warning("subsystem_kill", name=child.name, grace=self.config.daemon.stop_grace)
            proc.kill()
            proc.wait()
        child.state = "stopped"
        child.last_exit = proc.returncode
        log.info("subsystem_stopped", name=child.name, exit_code=proc.returncode)

    # ---------------------------------------------------------------- reload, watchdog

    def _reload(self) -> None:
        """SIGHUP: load the file again; restart only the instances whose configuration changed.

        A missing or invalid file, or a new node name (every label already published names
        this node, and peers know it by that name: a rename is a restart), keeps the running
        configuration.
        """
        if not self.paths.config_file.exists():
            log.error("config_reload_failed", error=f"{self.paths.config_file} does not exist",
                      kept="running configuration")
            return
        try:
            new = configmod.load(self.paths)
        except ConfigError as exc:
            log.error("config_reload_failed", error=str(exc), kept="running configuration")
            return
        if new.nodename != self.nodename:
            log.error("config_reload_failed", kept="running configuration",
                      error=f"the node name changed ({self.nodename!r} -> {new.nodename!r}): "
                            "restart the daemon to rename the node")
            return
        if new == self.config:
            log.info("config_reload_unchanged")
            return
        plan = plan_reload({name: c.signature for name, c in self.children.items()}, new)
        self.config = new
        log.info("config_reloaded", stop=list(plan.stop), restart=list(plan.restart), start=list(plan.start))
        for name in plan.stop:
            self._stop_child(self.children.pop(name))
        children = {}
        for inst in plan.order:
            child = self.children.get(inst.id) or Child.of(inst, new)
            child.signature = inst.kind.signature(new)
            children[inst.id] = child
        self.children = children
        for name in reversed(plan.restart):
            self._stop_child(self.children[name])
            if name == "bus":
                logs.detach_publisher()
        for name in (*plan.restart, *plan.start):
            child = self.children[name]
            child.state, child.next_start, child.planned = "restarting", 0.0, True
        self._start_due()
        if plan.stop:
            self._publish_status(self.status)

    def _read_bus(self) -> None:
        """Our WatchDog coming back (bus health), and DaemonCtl control requests."""
        assert self.sub is not None and self.pub is not None
        while self.sub.sock.poll(0, zmq.POLLIN):
            msg = self.sub.check(self.sub.sock.recv_multipart())
            if msg is None:
                continue
            if msg.kind == "WatchDog" and msg.meta.pub == self.pub.pub_id:
                self._last_watchdog_seen = time.monotonic()
            elif msg.kind == "DaemonCtl":
                refusal = self._control_refusal(msg.meta.pub)
                if refusal:
                    log.warning("daemon_ctl_refused", pub=msg.meta.pub, reason=refusal)
                    continue
                try:
                    self._control(msg.data_obj())
                except (ValueError, TypeError, AttributeError) as exc:
                    log.warning("daemon_ctl_ignored", error=str(exc))

    def _control_refusal(self, pub: str) -> str:
        """Why a DaemonCtl from publisher `pub` is not obeyed ("" when it is).

        DaemonCtl is published by the gateway only (its root-only restart endpoint): the
        publisher id (`name:pid:uuid`) must name the gateway and the gateway's current pid.
        """
        info = KINDS["DaemonCtl"]
        name, pid = publisher_name(pub), publisher_pid(pub)
        if not info.may_publish(name):
            return f"DaemonCtl is obeyed from {', '.join(sorted(info.publishers))} only, not {name!r}"
        if not any(c.proc is not None and c.proc.pid == pid and c.proc.poll() is None
                   for c in self.children.values() if info.may_publish(c.name)):
            return f"publisher {pub!r} is not a running {name} process"
        return ""

    def _control(self, data: dict[str, Any]) -> None:
        """DaemonCtl {component, action}: `restart` one subsystem instance (the bus included)."""
        component, action = data.get("component"), data.get("action")
        child = self.children.get(component) if isinstance(component, str) else None
        if action != "restart" or child is None:
            log.warning("daemon_ctl_ignored", component=component, action=action,
                        known=list(self.children), actions=["restart"])
            return
        log.info("daemon_ctl_restart", component=component)
        self._stop_child(child)
        child.state, child.next_start, child.planned = "restarting", 0.0, True
        child.backoff = 0.0
        if child.name == "bus":
            logs.detach_publisher()
        self._start_due()

    def _check_journal(self) -> None:
        """A journal joined the bus (it restarted): publish our state again for it."""
        if self.pub is None or self.children["bus"].state != "running":
            return
        self.pub.poll_subscriptions()
        current = self.pub.journal_topics()
        fresh, self._journal_topics = current - self._journal_topics, current
        if fresh and self.status != "starting":
            self._publish_status(self.status)
            for child in self.children.values():
                if child.name in STATE_KINDS:
                    self._publish_state_kind(child)

    def _watchdog(self) -> None:
        now = time.monotonic()
        interval = self.config.daemon.watchdog_interval
        if now - self._last_watchdog_sent >= interval:
            self._last_watchdog_sent = now
            if self.children["bus"].state == "running" and self.pub is not None:
                self.pub.publish(WatchDog(bus="daemon"), {"node": self.nodename}, ready_timeout=0)
        sd_interval = self.notifier.watchdog_interval()
        healthy = now - self._last_watchdog_seen <= 3 * interval or now - self._last_watchdog_sent < interval
        # systemd arms the watchdog once the service is ready; pings before READY=1 only fill
        # the manager's queue.
        if self.status == "starting":
            return
        if sd_interval and healthy and now - self._last_sd_ping >= min(sd_interval, interval):
            self._last_sd_ping = now
            self.notifier.notify("WATCHDOG=1")

    # ---------------------------------------------------------------- state events

    def _publish_status(self, status: str, child: Child | None = None, write: bool = True) -> None:
        self.status = status
        if write:
            self._write_status()
        if self.pub is None or self.children["bus"].state != "running":
            return
        labels = {"node": self.nodename}
        subsystems = {name: c.as_dict() for name, c in self.children.items()}
        self.pub.publish(DaemonStatusUpdated(node=self.nodename, version=__version__, status=status,
                                             subsystems=subsystems), labels, ready_timeout=2)
        if child is not None and child.name in STATE_KINDS:
            self._publish_state_kind(child)

    def _publish_state_kind(self, child: Child) -> None:
        """The subsystem's own Daemon*Updated (e.g. DaemonListenerUpdated for the gateway)."""
        assert self.pub is not None
        kind_type, field_name = STATE_KINDS[child.name]
        state = child.as_dict()
        value = {"id": child.name, "state": "degraded" if child.degraded else state["state"],
                 "created_at": child.started_at,
                 "updated_at": rfc3339_ns(), "configured_at": child.started_at}
        self.pub.publish(kind_type(node=self.nodename, **{field_name: value}), {"node": self.nodename},
                         ready_timeout=2)

    def _write_status(self) -> None:
        doc = {
            "pid": os.getpid(),
            "node": self.nodename,
            "status": self.status,
            "version": __version__,
            "updated_at": rfc3339_ns(),
            "subsystems": {name: c.as_dict() for name, c in self.children.items()},
        }
        tmp = self.paths.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.paths.status_file)

    def _shutdown(self) -> None:
        self.notifier.notify("STOPPING=1")
        if self.zygote is not None:  # no more forks; the subsystems are ours, not its
            self.zygote.close()
        if self.pub is not None:
            self._publish_status("stopping")
        for child in reversed(list(self.children.values())):
            if child.name != "bus":
                self._stop_child(child)
                if self.pub is not None:  # watchers see each subsystem go, the bus last
                    self._publish_status("stopping", child)
        if self.pub is not None:
            self._publish_status("stopped")
            logs.detach_publisher()
            self.pub.close()
        if self.sub is not None:
            self.sub.close()
        if "bus" in self.children:
            self._stop_child(self.children["bus"])
        if self.ctx is not None:
            self.ctx.term()
        for path in (self.paths.status_file, self.paths.bus_in, self.paths.bus_out):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self.notifier.close()
        signal.set_wakeup_fd(-1)
        log.info("daemon_stopped")


def serve(paths: Paths) -> int:
    """Entry point of `omd run`: load the config and supervise; returns the exit code."""
    warnings: list[str] = []
    config = configmod.load(paths, warnings)
    logs.configure("daemon", config.log.level, config.log.format)
    for text in warnings:
        log.warning("config_file_mode", warning=text)
    return Supervisor(config, paths).run()


__all__ = ["Supervisor", "serve", "running_pid", "PidLock"]
