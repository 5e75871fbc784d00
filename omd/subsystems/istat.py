"""The istat subsystem (instance status): the status of this node's object instances.

It receives InstanceStatusPost events (published by the gateway's POST /api/instance/status,
labels namespace, path, node, origin=api), validates them, sets `frozen_at` from the
instance frozen flag (omd.frozen; the poster's value is ignored) and publishes
InstanceStatusUpdated {path, node, instance_status} with labels node, namespace, path.

- InstanceFrozenFileUpdated / InstanceFrozenFileRemoved: the flag file is read again and
  the status re-published when its frozen_at changed.
- InstanceConfigDeleted / ObjectDeleted of this node: InstanceStatusDeleted, state dropped.

Posts for another node, with an invalid path or invalid status values are refused with a
warning log record. The last status per path is kept in `var/lib/omd/istat/objects/<path>.json`, one file
per object ('/' written '+'; written atomically on every change of that object, so a post
costs the same however many objects there are; a former single `status.json` is loaded and
migrated; a write the disk refuses is reported degraded and retried, omd.statefile): a
restarted istat (kill -9) starts from it, publishes
the frozen_at changes and the deletions of objects whose config file went away meanwhile,
and nothing else, unless the journal does not hold this node's statuses yet (a new journal
incarnation): then it publishes every status again (`publish_all`, see omd.daemon.runtime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import structlog

from omd import frozen
from omd.daemon import readiness
from omd.statefile import StateFile
from omd.daemon.runtime import Runtime, Subsystem
from omd.errors import ValidationError
from omd.model.events import ZERO_TIME, InstanceStatus, InstanceStatusDeleted, InstanceStatusPost, InstanceStatusUpdated
from omd.objects import ObjectPath, ObjectPathError
from omd.paths import Paths
from omd.model.wire import Message, rfc3339_ns

log = structlog.get_logger()

STATUS_VALUES = frozenset({"up", "down", "warn", "n/a", "undef", "stdby up", "stdby down"})
PROVISIONED_VALUES = frozenset({"true", "false", "mixed", "n/a", "undef"})
TOPICS = ("InstanceStatusPost", "InstanceFrozenFileUpdated", "InstanceFrozenFileRemoved",
          "InstanceConfigDeleted", "ObjectDeleted")


def check_status(status: InstanceStatus) -> None:
    """Raise ValueError naming the field when a status value is not one upstream knows."""
    for name in ("avail", "overall"):
        if getattr(status, name) not in STATUS_VALUES:
            raise ValueError(f"instance_status.{name}: {getattr(status, name)!r} is not one of {sorted(STATUS_VALUES)}")
    if status.provisioned not in PROVISIONED_VALUES:
        raise ValueError(f"instance_status.provisioned: {status.provisioned!r} is not one of "
                         f"{sorted(PROVISIONED_VALUES)}")
    for rid, res in (status.resources or {}).items():
        if res.status not in STATUS_VALUES:
            raise ValueError(f"instance_status.resources.{rid}.status: {res.status!r} is not one of "
                             f"{sorted(STATUS_VALUES)}")


def saved_statuses(paths: Paths) -> dict[str, dict[str, Any]] | None:
    """istat's saved statuses (path -> {"status", "had_config"}) as another process reads them
    (omon's snapshot); None when istat never saved any."""
    out: dict[str, dict[str, Any]] | None = None
    old = paths.lib / "istat" / "status.json"
    try:
        data = json.loads(old.read_text())
        out = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        pass
    objects = paths.lib / "istat" / "objects"
    if objects.is_dir():
        out = out or {}
        for f in objects.glob("*.json"):
            try:
                out[f.stem.replace("+", "/")] = json.loads(f.read_text())
            except (OSError, ValueError):
                continue  # being replaced, or istat logs it when it loads
    return out


class Istat:
    """Instance statuses of this node, their persistence and publications."""

    def __init__(self, paths: Paths, node: str, pub: Any) -> None:
        self.paths = paths
        self.node = node
        self.pub = pub
        # one file per object (a post rewrites only its own); status.json is the former
        # single file, loaded and migrated once
        self.dir = paths.lib / "istat" / "objects"
        self.old_file = paths.lib / "istat" / "status.json"
        # path -> {"status": instance status JSON, "had_config": bool}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.savers: dict[str, StateFile] = {}  # path -> its file, for retries after a failure
        self._load()

    def _file(self, p: str) -> Path:
        return self.dir / (p.replace("/", "+") + ".json")  # '+' is in no object path

    def _load(self) -> None:
        old: dict[str, dict[str, Any]] = {}
        try:
            old = json.loads(self.old_file.read_text())
        except FileNotFoundError:
            pass
        except ValueError as exc:
            log.warning("istat_state_unreadable", file=str(self.old_file), error=str(exc))
        self.statuses = dict(old) if isinstance(old, dict) else {}
        for f in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else ():
            try:
                self.statuses[f.stem.replace("+", "/")] = json.loads(f.read_text())
            except (OSError, ValueError) as exc:
                log.warning("istat_state_unreadable", file=str(f), error=str(exc))
        if old:
            for p in old:
                self._save(p)
        if self.old_file.exists():
            self.old_file.unlink()

    def _save(self, p: str) -> None:
        """Write (or remove, when no longer held) the file of object `p`. A failed write (full
        or read-only disk) is reported degraded and retried by `retry_saves`: the statuses in
        memory are still published."""
        f = self._file(p)
        if p not in self.statuses:
            self.savers.pop(p, None)
            try:
                f.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("istat_state_not_removed", file=str(f), error=str(exc))
            return
        saver = self.savers.get(p)
        if saver is None:
            saver = self.savers[p] = StateFile(f, lambda p=p: json.dumps(self.statuses.get(p)).encode(),
                                               f"istat/objects/{f.name}")
        saver.save()

    def retry_saves(self) -> None:
        """Retry the files whose last write failed; still degraded while one is behind."""
        dirty = [s for s in self.savers.values() if s.dirty]
        for saver in dirty:
            saver.retry()
        behind = [s.error for s in self.savers.values() if s.error]
        if dirty and behind:
            readiness.health(behind[0])  # a recovered file's healthy must not hide the others

    def _publish(self, path: ObjectPath, status: InstanceStatus) -> None:
        self.pub.publish(InstanceStatusUpdated(path=str(path), node=self.node, instance_status=status),
                         path.labels(self.node))

    def _status(self, p: str) -> InstanceStatus:
        return msgspec.convert(self.statuses[p]["status"], InstanceStatus)

    def resume(self) -> None:
        """After a restart: publish what changed while istat was not running."""
        for p in sorted(self.statuses):
            path = ObjectPath.parse(p)
            if self.statuses[p].get("had_config") and not path.config_file(self.paths).exists():
                self._delete(path)
                self._save(p)
                continue
            status = self._status(p)
            at = frozen.instance_frozen_at(self.paths, path)
            if at != status.frozen_at:
                status.frozen_at = at
                self.statuses[p]["status"] = msgspec.to_builtins(status)
                self._save(p)
                self._publish(path, status)

    def publish_all(self) -> None:
        """Publish every status held (a journal that lost them asked for the whole state)."""
        for p in sorted(self.statuses):
            self._publish(ObjectPath.parse(p), self._status(p))

    def on_post(self, msg: Message) -> None:
        """Validate an InstanceStatusPost, then store and publish its status."""
        try:
            event = msg.event()
            assert isinstance(event, InstanceStatusPost)
            path = ObjectPath.parse(event.path)
            node = event.node or msg.labels.get("node", "")
            if node != self.node:
                raise ValueError(f"node {node!r} is not this node ({self.node!r})")
            check_status(event.instance_status)
        except (ValidationError, ObjectPathError, ValueError) as exc:
            log.warning("istat_post_refused", error=str(exc), labels=msg.labels)
            return
        status = event.instance_status
        status.frozen_at = frozen.instance_frozen_at(self.paths, path)
        if status.updated_at == ZERO_TIME:
            status.updated_at = rfc3339_ns()
        p = str(path)
        self.statuses[p] = {"status": msgspec.to_builtins(status),
                            "had_config": path.config_file(self.paths).exists()}
        self._save(p)
        self._publish(path, status)

    def on_frozen_file(self, msg: Message) -> None:
        """An instance frozen flag changed: re-publish the status with the new frozen_at."""
        p = msg.data_obj().get("path") or msg.labels.get("path", "")
        if p not in self.statuses or msg.labels.get("node", self.node) != self.node:
            return
        path = ObjectPath.parse(p)
        status = self._status(p)
        at = frozen.instance_frozen_at(self.paths, path)
        if at == status.frozen_at:
            return
        status.frozen_at = at
        self.statuses[p]["status"] = msgspec.to_builtins(status)
        self._save(p)
        self._publish(path, status)

    def on_deleted(self, msg: Message) -> None:
        """The object's local config went away: InstanceStatusDeleted."""
        data = msg.data_obj()
        p = data.get("path", "")
        if p in self.statuses and data.get("node", self.node) == self.node and "from" not in msg.labels:
            self._delete(ObjectPath.parse(p))
            self._save(p)

    def _delete(self, path: ObjectPath) -> None:
        del self.statuses[str(path)]
        self.pub.publish(InstanceStatusDeleted(path=str(path), node=self.node), path.labels(self.node))


class IstatSubsystem(Subsystem):
    """istat on the runtime."""

    topics = TOPICS
    state_kinds = ("InstanceStatusUpdated",)

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        assert rt.pub is not None
        self.istat = Istat(rt.paths, rt.nodename, rt.pub)

    def start(self) -> None:
        """Subscriptions are confirmed before resuming: a flag change is either seen by
        resume() or received as an event, never neither."""
        log.info("istat_started", statuses=len(self.istat.statuses))
        self.istat.resume()

    def republish(self) -> None:
        self.istat.publish_all()

    def poll(self) -> float:
        self.istat.retry_saves()
        return super().poll()

    def on_message(self, msg: Message) -> None:
        try:
            if msg.kind == "InstanceStatusPost":
                self.istat.on_post(msg)
            elif msg.kind.startswith("InstanceFrozenFile"):
                self.istat.on_frozen_file(msg)
            else:
                self.istat.on_deleted(msg)
        except (ValueError, KeyError, TypeError, msgspec.ValidationError) as exc:
            # A malformed message must not take the subsystem down.
            log.warning("istat_message_dropped", kind=msg.kind, error=str(exc))


def run(rt: Runtime) -> int:
    """Serve instance statuses until SIGTERM/SIGINT."""
    return rt.run(IstatSubsystem)
