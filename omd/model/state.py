"""The compacted log: the last event of every state identity, and the cluster dataset built from it.

State kinds (events.KindInfo.is_state) name a thing by an identity (InstanceStatusUpdated:
path + node); the log keeps the last event per (state group, identity). Deleted kinds remove
the identity from the groups they name; ForgetPeer removes everything a dropped peer node
published. The log serves replay (current state as events), the snapshot a heartbeat sends
a peer, and `dataset()`, the cluster dataset of `GET /api/cluster/status`, which is a pure
function of the log. Clients that render live views run the same code on the events they
receive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import msgspec

from omd.model.events import KINDS, identity_of, identity_of_event

_decode = msgspec.json.Decoder().decode


class Entry:
    """One retained state event: its id, frames and decoded data (`obj`, decoded when first
    read: the journal keeps entries it never reads, and decoding is most of its cost)."""

    __slots__ = ("id", "kind", "topic", "meta", "data", "_obj")

    def __init__(self, id: int, kind: str, topic: bytes, meta: bytes, data: bytes,
                 obj: dict[str, Any] | None = None) -> None:
        self.id, self.kind, self.topic, self.meta, self.data, self._obj = id, kind, topic, meta, data, obj

    @property
    def obj(self) -> dict[str, Any]:
        if self._obj is None:
            decoded = _decode(self.data)
            self._obj = decoded if isinstance(decoded, dict) else {}
        return self._obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and (self.id, self.kind, self.topic, self.meta, self.data) == (
            other.id, other.kind, other.topic, other.meta, other.data)

    def __repr__(self) -> str:
        return f"Entry(id={self.id}, kind={self.kind!r})"


class CompactedLog:
    """Last event per state identity; `apply` every event in id order."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, id: int, kind: str, topic: bytes, meta: bytes, data: bytes, event: Any = None) -> bool:
        """Fold one event in; True when the log changed. Non-state kinds are ignored.

        `event`: the data already decoded to its kind's Struct (by the journal's check), so
        that the identity is read from it and the data is not decoded a second time.
        """
        info = KINDS.get(kind)
        if info is None:
            return False
        if info.is_state and event is not None and type(event) is info.type:
            key = (info.group, identity_of_event(info, event))
            self._entries[key] = Entry(id, kind, topic, meta, data)
            return True
        if info.is_state:
            obj = _decode(data)
            if not isinstance(obj, dict):
                return False
            key = (info.group, identity_of(info, obj))
            self._entries[key] = Entry(id, kind, topic, meta, data, obj)
            return True
        if info.removes:
            obj = _decode(data)
            if not isinstance(obj, dict):
                return False
            ident = identity_of(info, obj)
            changed = False
            for group in info.removes:
                changed |= self._entries.pop((group, ident), None) is not None
            return changed
        if kind == "ForgetPeer":
            peer = _decode(data).get("node")
            doomed = [k for k, e in self._entries.items() if e.obj.get("node") == peer
                      and (e.obj.get("labels") or {}).get("from") == "peer"]
            for k in doomed:
                del self._entries[k]
            return bool(doomed)
        return False

    def entries(self, kinds: Iterable[str] | None = None) -> list[Entry]:
        """Retained events (of `kinds` when given), sorted by id."""
        if kinds is None:
            selected: Iterator[Entry] = iter(self._entries.values())
        else:
            wanted = set(kinds)
            selected = (e for e in self._entries.values() if e.kind in wanted)
        return sorted(selected, key=lambda e: e.id)

    def discard(self, doomed: "Callable[[Entry], bool]") -> int:
        """Remove every entry for which `doomed(entry)` is true; how many were removed."""
        keys = [key for key, e in self._entries.items() if doomed(e)]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def dump(self) -> list[list[Any]]:
        """A JSON-able list of [id, kind, topic, meta, data] for persistence."""
        return [[e.id, e.kind, e.topic.decode(), e.meta.decode(), e.data.decode()] for e in self.entries()]

    @classmethod
    def load(cls, rows: list[list[Any]]) -> "CompactedLog":
        """Rebuild a log from `dump()` output (rows that no longer fit are skipped)."""
        log = cls()
        for row in rows:
            try:
                id_, kind, topic, meta, data = row
                log.apply(int(id_), kind, topic.encode(), meta.encode(), data.encode())
            except (ValueError, TypeError, msgspec.DecodeError):
                continue
        return log


def dataset(entries: Iterable[Entry], local_node: str) -> dict[str, Any]:
    """The cluster dataset in upstream's shape (cluster / node / object), from state entries.

    `cluster.node.<name>` holds `status`, `stats`, `monitor`, `config`, `os`, `pool`,
    `daemon` and `instance.<path>.{config,monitor,status}`; `cluster.object.<path>` the
    aggregated object status; `cluster.status` and `cluster.config` the cluster-wide values.
    """
    cluster: dict[str, Any] = {"config": {}, "status": {}, "node": {}, "object": {}}
    daemon_fields = {
        "DaemonCollectorUpdated": "collector", "DaemonDataUpdated": "daemondata",
        "DaemonDnsUpdated": "dns", "DaemonHeartbeatUpdated": "heartbeat",
        "DaemonListenerUpdated": "listener", "DaemonRunnerImonUpdated": "runner_imon",
        "DaemonSchedulerUpdated": "scheduler",
    }
    node_fields = {
        "NodeStatusUpdated": ("status", "node_status"), "NodeStatsUpdated": ("stats", "node_stats"),
        "NodeMonitorUpdated": ("monitor", "node_monitor"), "NodeConfigUpdated": ("config", "node_config"),
        "NodeOsPathsUpdated": ("os", "san_paths"),
    }
    instance_fields = {
        "InstanceStatusUpdated": ("status", "instance_status"),
        "InstanceMonitorUpdated": ("monitor", "instance_monitor"),
        "InstanceConfigUpdated": ("config", "instance_config"),
    }

    def node(name: str) -> dict[str, Any]:
        return cluster["node"].setdefault(name, {"instance": {}, "pool": {}, "daemon": {}})

    for e in entries:
        obj = e.obj
        if e.kind == "ClusterStatusUpdated":
            cluster["status"] = obj.get("cluster_status", {})
        elif e.kind == "ClusterConfigUpdated":
            cluster["config"] = obj.get("cluster_config", {})
        elif e.kind in node_fields:
            field, source = node_fields[e.kind]
            value = obj.get(source)
            node(obj.get("node", ""))[field] = {"paths": value} if field == "os" else value
        elif e.kind in instance_fields:
            field, source = instance_fields[e.kind]
            inst = node(obj.get("node", ""))["instance"].setdefault(obj.get("path", ""), {})
            inst[field] = obj.get(source)
        elif e.kind == "NodePoolStatusUpdated":
            node(obj.get("node", ""))["pool"][obj.get("name", "")] = obj.get("pool_status")
        elif e.kind in daemon_fields:
            node(obj.get("node", ""))["daemon"][daemon_fields[e.kind]] = obj.get(daemon_fields[e.kind])
        elif e.kind == "ObjectStatusUpdated":
            cluster["object"][obj.get("path", "")] = obj.get("object_status")
    return {"cluster": cluster, "daemon": {"nodename": local_node}}
