"""The discover subsystem: watches object config files and frozen flags, publishes what changed.

It owns the events that say which objects exist on this node and what their config is:

- ConfigFileUpdated / ConfigFileRemoved (labels namespace, path: no node, as upstream) when a
  config file's contents change or the file goes away;
- ObjectCreated / ObjectDeleted (Lobj) when an object first has a usable config / loses it;
- InstanceConfigUpdated / InstanceConfigDeleted (Lobj) with upstream's instance.Config, for
  objects whose `nodes` include this node; InstanceConfigManagerDone (Lobj) after a delete;
- NodeFrozenFileUpdated / NodeFrozenFileRemoved (Lh) and InstanceFrozenFileUpdated /
  InstanceFrozenFileRemoved (Lobj) for the frozen flags (omd.frozen).

Changes are noticed through watchdog (inotify, or polling with `[discover] watcher`), but
an event only marks the tree dirty: after `debounce` seconds of quiet the tree is scanned
and compared with what was published, so rapid writes, editors' renames and missed events
all end in one consistent set of events. A config that does not parse is logged at error
level (which also publishes a Log event) and the last good config stays in force; the
watcher never dies of a bad file.

What was published is kept in `var/lib/omd/discover/state.json`, so a restarted discover
(kill -9) publishes the removals and changes that happened while it was down, and the current
state (InstanceConfigUpdated, frozen flags) again, but no second ObjectCreated. The state is
saved after each scan's events are published: a kill -9 in between republishes them after
the restart (at least once, never lost).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import structlog

from omd import frozen
from omd.config import Config
from omd.daemon.runtime import Runtime, Subsystem
from omd.model.events import (ZERO_TIME, ConfigFileRemoved, ConfigFileUpdated, Event, InstanceConfigDeleted,
                     InstanceConfigManagerDone, InstanceConfigUpdated, InstanceFrozenFileRemoved,
                     InstanceFrozenFileUpdated, NodeFrozenFileRemoved, NodeFrozenFileUpdated, ObjectCreated,
                     ObjectDeleted)
from omd.objects import ObjectConfigError, ObjectPath, checksum, instance_config, iter_config_files, parse_config
from omd.paths import Paths
from omd.statefile import StateFile
from omd.model.wire import rfc3339_ns

log = structlog.get_logger()

# Under continuous writes, scan at least this often anyway.
MAX_DEBOUNCE_WAIT = 1.0
# A full scan this often even with no event: a safety net for events a watcher missed.
RESYNC_INTERVAL = 30.0

Publish = Callable[[Event, dict[str, str]], Any]


class Discover:
    """The published view of config files and flags, and the scan that updates it."""

    def __init__(self, paths: Paths, nodename: str, publish: Publish) -> None:
        self.paths = paths
        self.nodename = nodename
        self.publish = publish
        self.state_file = paths.lib / "discover" / "state.json"
        # path -> {"file", "stat", "csum", "created", "instance_config"}
        self.objects: dict[str, dict[str, Any]] = {}
        self.node_frozen = ZERO_TIME
        self.instance_frozen: dict[str, str] = {}
        self.saver = StateFile(self.state_file, self._encode, "discover/state.json")
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.state_file.read_text())
            self.objects = dict(doc["objects"])
            self.node_frozen = str(doc["node_frozen"])
            self.instance_frozen = dict(doc["instance_frozen"])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("discover_state_unreadable", file=str(self.state_file), error=str(exc))

    def _encode(self) -> bytes:
        return json.dumps({"objects": self.objects, "node_frozen": self.node_frozen,
                           "instance_frozen": self.instance_frozen}).encode()

    def _save(self) -> None:
        # A failed write is reported degraded and retried by poll() (omd.statefile).
        self.saver.save()

    # -------------------------------------------------------------------------- scan

    def scan(self, initial: bool = False) -> bool:
        """Compare the tree with the published view, publish the differences; True if any.

        With `initial`, the current state is published again even where unchanged.
        """
        changed = self._scan_configs(initial)
        changed = self._scan_flags(initial) or changed
        if changed:
            self._save()
        return changed

    def _scan_configs(self, initial: bool) -> bool:
        changed = False
        current = {str(path): (path, file) for path, file in iter_config_files(self.paths)}
        for p in sorted(set(self.objects) - set(current)):
            self._removed(ObjectPath.parse(p), self.objects.pop(p))
            changed = True
        for p, (path, file) in current.items():
            try:
                st = file.stat()
                stat = [st.st_mtime_ns, st.st_size, st.st_ino]
                rec = self.objects.get(p)
                if rec is not None and rec["stat"] == stat:
                    if initial:
                        self._republish(path, rec)
                    continue
                data = file.read_bytes()
            except FileNotFoundError:
                continue  # removed meanwhile: the next scan sees it gone
            except OSError as exc:
                log.error("object_config_unreadable", path=p, file=str(file), error=str(exc))
                continue
            if self._updated(path, file, stat, data, initial):
                changed = True
        return changed

    def _republish(self, path: ObjectPath, rec: dict[str, Any]) -> None:
        if rec.get("instance_config") is not None:
            self.publish(InstanceConfigUpdated(path=str(path), node=self.nodename,
                                               instance_config=rec["instance_config"]),
                         path.labels(self.nodename))

    def _updated(self, path: ObjectPath, file: Path, stat: list[int], data: bytes, initial: bool) -> bool:
        p = str(path)
        rec = self.objects.get(p)
        csum = checksum(data)
        if rec is not None and rec["csum"] == csum:
            rec["stat"] = stat  # touched, same contents
            if initial:
                self._republish(path, rec)
            return True
        if rec is None:
            rec = self.objects[p] = {"file": str(file), "created": False, "instance_config": None}
        rec["stat"], rec["csum"] = stat, csum
        lobj = path.labels(self.nodename)
        self.publish(ConfigFileUpdated(path=p, file=str(file)), path.labels())
        try:
            cfg = parse_config(data.decode("utf-8", errors="replace"), self.nodename)
        except ObjectConfigError as exc:
            kept = "last good config" if rec["created"] else "none"
            log.error("object_config_invalid", path=p, file=str(file), error=str(exc), kept=kept)
            if initial:
                self._republish(path, rec)
            return True
        if not rec["created"]:
            rec["created"] = True
            self.publish(ObjectCreated(path=p, node=self.nodename), lobj)
        if self.nodename in cfg.nodes:
            ic = instance_config(path, cfg, csum, rfc3339_ns(stat[0]))
            rec["instance_config"] = ic
            self.publish(InstanceConfigUpdated(path=p, node=self.nodename, instance_config=ic), lobj)
        else:
            log.warning("object_not_scoped_here", path=p, nodes=cfg.nodes)
            if rec["instance_config"] is not None:
                rec["instance_config"] = None
                self.publish(InstanceConfigDeleted(path=p, node=self.nodename), lobj)
                self.publish(InstanceConfigManagerDone(path=p, file=rec["file"]), lobj)
        return True

    def _removed(self, path: ObjectPath, rec: dict[str, Any]) -> None:
        p = str(path)
        lobj = path.labels(self.nodename)
        self.publish(ConfigFileRemoved(path=p, file=rec["file"]), path.labels())
        if rec.get("instance_config") is not None:
            self.publish(InstanceConfigDeleted(path=p, node=self.nodename), lobj)
            self.publish(InstanceConfigManagerDone(path=p, file=rec["file"]), lobj)
        if rec.get("created"):
            self.publish(ObjectDeleted(path=p, node=self.nodename), lobj)

    def _scan_flags(self, initial: bool) -> bool:
        changed = False
        flag = frozen.node_flag(self.paths)
        at = frozen.frozen_at(flag)
        lh = {"node": self.nodename}
        if at != self.node_frozen or (initial and at != ZERO_TIME):
            if at != ZERO_TIME:
                self.publish(NodeFrozenFileUpdated(file=str(flag), at=at), lh)
            else:
                self.publish(NodeFrozenFileRemoved(file=str(flag)), lh)
            changed = at != self.node_frozen
            self.node_frozen = at
        flags = {str(path): at for path, at in frozen.iter_instance_flags(self.paths).items()}
        for p in sorted(set(self.instance_frozen) - set(flags)):
            path = ObjectPath.parse(p)
            del self.instance_frozen[p]
            self.publish(InstanceFrozenFileRemoved(path=p, file=str(frozen.instance_flag(self.paths, path)),
                                                   at=rfc3339_ns()), path.labels(self.nodename))
            changed = True
        for p, at in flags.items():
            if self.instance_frozen.get(p) == at and not initial:
                continue
            path = ObjectPath.parse(p)
            changed = changed or self.instance_frozen.get(p) != at
            self.instance_frozen[p] = at
            self.publish(InstanceFrozenFileUpdated(path=p, file=str(frozen.instance_flag(self.paths, path)), at=at),
                         path.labels(self.nodename))
        return changed


# ------------------------------------------------------------------------------ watching

_IGNORED_EVENT_TYPES = frozenset({"opened", "closed_no_write"})  # our own reads


def _start_observer(paths: Paths, config: Config, on_change: Callable[[], None]) -> Any:
    """Start a watchdog observer on the config tree and the flag directories."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            if event.event_type not in _IGNORED_EVENT_TYPES:
                on_change()

    dirs = [(paths.etc, True), (paths.lib / "node", False), (paths.lib / "namespaces", True)]
    for d, _ in dirs:
        d.mkdir(parents=True, exist_ok=True)

    def start(observer: Any) -> Any:
        handler = Handler()
        for d, recursive in dirs:
            observer.schedule(handler, str(d), recursive=recursive)
        observer.start()
        return observer

    mode = config.discover.watcher
    if mode in ("auto", "inotify"):
        observer = Observer()
        try:
            return start(observer)
        except OSError as exc:
            if mode == "inotify":
                raise
            log.warning("discover_inotify_unavailable", error=str(exc), fallback="polling")
            try:
                observer.stop()
            except Exception:  # a half-started observer may refuse to stop; it is dropped anyway
                pass
    return start(PollingObserver(timeout=config.discover.poll_interval))


class DiscoverSubsystem(Subsystem):
    """discover on the runtime: the observer thread wakes the loop, which debounces and scans."""

    state_kinds = ("InstanceConfigUpdated",)
    start_publishes_state = True

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        rt.add_reader(self.wake_r, self._drain_wakeups)
        self.dirty = threading.Event()
        self.last_event = 0.0
        self.first_dirty = 0.0
        self.last_scan = time.monotonic()
        self.debounce = rt.config.discover.debounce
        pub = rt.pub
        assert pub is not None
        self.disc = Discover(rt.paths, rt.nodename, lambda event, labels: pub.publish(event, labels))
        self.observer = _start_observer(rt.paths, rt.config, self._on_change)

    def _on_change(self) -> None:
        """In the observer's thread: note the change and wake the loop."""
        self.last_event = time.monotonic()
        self.dirty.set()
        try:
            self.wake_w.send(b"x")
        except (BlockingIOError, OSError):  # a wake-up is already pending, or we are closing
            pass

    def _drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(512):
                pass
        except BlockingIOError:
            pass

    def start(self) -> None:
        log.info("discover_started", watcher=type(self.observer).__name__, objects=len(self.disc.objects))
        self.disc.scan(initial=True)

    def republish(self) -> None:
        self.disc.scan(initial=True)

    def poll(self) -> float:
        self.disc.saver.retry()
        now = time.monotonic()
        if self.dirty.is_set():
            self.first_dirty = self.first_dirty or now
            if now - self.last_event >= self.debounce or now - self.first_dirty >= MAX_DEBOUNCE_WAIT:
                self.dirty.clear()
                self.first_dirty = 0.0
                self.disc.scan()
                self.last_scan = now
            else:
                return min(0.05, self.debounce)
        elif now - self.last_scan >= RESYNC_INTERVAL:
            self.disc.scan()
            self.last_scan = now
        return RESYNC_INTERVAL

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(5)
        self.wake_w.close()
        self.wake_r.close()


def run(rt: Runtime) -> int:
    """Watch and publish until SIGTERM/SIGINT."""
    return rt.run(DiscoverSubsystem)
