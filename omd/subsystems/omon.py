"""The omon subsystem: object status aggregated over all known nodes, and the cluster status.

Inputs (from the bus, including peer events republished with `from=peer`):
InstanceStatusUpdated / InstanceStatusDeleted, InstanceConfigUpdated / InstanceConfigDeleted,
NodeStatusUpdated (frozen_at and compat of every node) and ForgetPeer (a dropped peer).

Outputs (labels Lobj = namespace, path, node=<this node>; Lh for the cluster):

- ObjectStatusUpdated {path, node, object_status, source_event=null} when an object's
  aggregate changes (updated_at aside), following `aggregate` (the rules are in its
  docstring and docs/events.md);
- ObjectStatusDeleted then ObjectStatusDone when an object has neither an instance status
  nor an instance config on any node any more;
- ClusterStatusUpdated {node, cluster_status {is_compat, is_frozen}} on change, where
  is_frozen is true when **all** known nodes are frozen (upstream: any).

State is rebuilt at start, not persisted: the journal's snapshot (the compacted log)
gives every node's last instance statuses, configs, node statuses and the object statuses
last published; this node's object config files, istat's saved statuses and the node frozen
flag then override this node's part, as they are the authority. Only what differs from the
last published statuses is published, so a restart (kill -9) republishes nothing that did
not change and catches up on what changed while omon was down.

Queued input events are folded in bursts (MAX_BURST) and each touched object is recomputed
once per burst, so a status that exists only in the middle of a burst is not published.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import structlog
import zmq

from omd import frozen
from omd.daemon.runtime import Runtime, Subsystem
from omd.errors import FrameError
from omd.model.events import (ZERO_TIME, ClusterStatus, ClusterStatusUpdated, ObjectStatus, ObjectStatusDeleted,
                     ObjectStatusDone, ObjectStatusUpdated)
from omd.subsystems.journal.protocol import JournalClient, JournalError
from omd.subsystems.nmon import COMPAT
from omd.objects import ObjectConfigError, ObjectPath, ObjectPathError, checksum, instance_config, \
    iter_config_files, parse_config
from omd.paths import Paths
from omd.model.wire import Message, rfc3339_ns

log = structlog.get_logger()

# Events folded before the statuses they touched are recomputed and published (see run).
MAX_BURST = 1000


def _object_field(data: dict[str, Any], name: str) -> dict[str, Any]:
    """`data[name]` when it is a JSON object, {} when absent; ValueError otherwise (the event
    is dropped rather than stored, so a malformed one cannot break later aggregations)."""
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not an object")
    return value

TOPICS = ("InstanceStatusUpdated", "InstanceStatusDeleted", "InstanceConfigUpdated", "InstanceConfigDeleted",
          "NodeStatusUpdated", "ForgetPeer")
SNAPSHOT_TIMEOUT = 2.0


def aggregate(config: dict[str, Any] | None, instances: dict[str, dict[str, Any]]) -> ObjectStatus:
    """The object status of one object from its instance config and its instances' statuses.

    - avail: n/a with no instance (or all n/a); warn when an instance is warn; failover: up
      with exactly one instance up, warn with more than one, down with none; flex: warn with
      more than flex max up, up with at least flex min (and at least one) up, down otherwise.
    - provisioned: the instances' common value (n/a ignored), mixed when they differ, n/a
      when none.
    - frozen: frozen when every instance has a frozen_at, unfrozen when none has, mixed
      otherwise, n/a with no instance.
    - overall: warn when avail is warn or an instance's overall is warn, else avail.
    - topology, orchestrate, priority, scope, placement_policy and flex come from the config.
    """
    config = config or {}
    topology = config.get("topology", "failover")
    flex = config.get("flex") or {}
    statuses = list(instances.values())
    avails = [s.get("avail", "undef") for s in statuses]
    up = avails.count("up")
    if not statuses or all(a == "n/a" for a in avails):
        avail = "n/a"
    elif "warn" in avails:
        avail = "warn"
    elif topology == "flex":
        fmin, fmax = int(flex.get("min", 1)), int(flex.get("max", 0))
        if fmax > 0 and up > fmax:
            avail = "warn"
        elif up >= max(1, fmin):
            avail = "up"
        else:
            avail = "down"
    else:
        avail = "up" if up == 1 else "warn" if up > 1 else "down"

    provs = {s.get("provisioned", "undef") for s in statuses} - {"n/a"}
    provisioned = "n/a" if not provs else provs.pop() if len(provs) == 1 else "mixed"

    frozen_count = sum(1 for s in statuses if s.get("frozen_at", ZERO_TIME) != ZERO_TIME)
    if not statuses:
        frozen_state = "n/a"
    elif frozen_count == len(statuses):
        frozen_state = "frozen"
    elif frozen_count == 0:
        frozen_state = "unfrozen"
    else:
        frozen_state = "mixed"

    overall = "warn" if avail == "warn" or any(s.get("overall") == "warn" for s in statuses) else avail
    status = ObjectStatus(
        avail=avail,
        frozen=frozen_state,
        orchestrate=config.get("orchestrate", ""),
        overall=overall,
        placement_policy=config.get("placement_policy", ""),
        placement_state="n/a",
        priority=int(config.get("priority", 0)),
        provisioned=provisioned,
        scope=list(config.get("scope", [])),
        topology=topology,
        up_instances_count=up,
        updated_at=rfc3339_ns(),
    )
    if topology == "flex" and flex:
        status.flex = dict(flex)
    if "pool" in config:
        status.pool, status.size = config.get("pool", ""), int(config.get("size", 0))
    return status


def cluster_status(nodes: dict[str, dict[str, Any]]) -> ClusterStatus:
    """is_frozen: every known node frozen (and at least one known); is_compat: one compat level."""
    return ClusterStatus(
        is_compat=len({n.get("compat") for n in nodes.values()}) <= 1,
        is_frozen=bool(nodes) and all(n.get("frozen") for n in nodes.values()),
    )


def _comparable(status: ObjectStatus) -> dict[str, Any]:
    out = msgspec.to_builtins(status)
    out.pop("updated_at", None)
    return out


class Omon:
    """The aggregation state and its publications, independent of sockets."""

    def __init__(self, node: str, pub: Any) -> None:
        self.node = node
        self.pub = pub
        self.instances: dict[str, dict[str, dict[str, Any]]] = {}  # path -> node -> instance status
        self.configs: dict[str, dict[str, dict[str, Any]]] = {}  # path -> node -> instance config
        # The last config seen per path: an instance status outliving its config (the config
        # file is removed before istat deletes the status) keeps the object's topology.
        self.last_config: dict[str, dict[str, Any]] = {}
        self.nodes: dict[str, dict[str, Any]] = {}  # node -> {"frozen", "compat"}
        self.published: dict[str, dict[str, Any]] = {}  # path -> comparable last published status
        self.cluster: ClusterStatus | None = None

    # ---------------------------------------------------------------------- inputs

    def apply(self, kind: str, data: dict[str, Any]) -> tuple[set[str], bool]:
        """Fold one event in; returns (paths to recompute, cluster to recompute)."""
        path, node = data.get("path", ""), data.get("node", "")
        if kind == "InstanceStatusUpdated":
            self.instances.setdefault(path, {})[node] = _object_field(data, "instance_status")
        elif kind == "InstanceStatusDeleted":
            self.instances.get(path, {}).pop(node, None)
        elif kind == "InstanceConfigUpdated":
            cfg = _object_field(data, "instance_config")
            self.configs.setdefault(path, {})[node] = cfg
            self.last_config[path] = cfg
        elif kind == "InstanceConfigDeleted":
            self.configs.get(path, {}).pop(node, None)
        elif kind == "NodeStatusUpdated":
            status = data.get("node_status") or {}
            self.nodes[node] = {"frozen": status.get("frozen_at", ZERO_TIME) != ZERO_TIME,
                                "compat": status.get("compat", 0)}
            return set(), True
        elif kind == "ForgetPeer":
            return self.forget(node), True
        else:
            return set(), False
        return ({path} if path else set()), False

    def forget(self, node: str) -> set[str]:
        """Drop everything known of a peer node; the paths it touched."""
        self.nodes.pop(node, None)
        touched = set()
        for table in (self.instances, self.configs):
            for path, per_node in table.items():
                if per_node.pop(node, None) is not None:
                    touched.add(path)
        return touched

    def config_of(self, path: str) -> dict[str, Any] | None:
        """The config used for `path`: this node's, else any node's, else the last seen."""
        per_node = self.configs.get(path) or {}
        if self.node in per_node:
            return per_node[self.node]
        if per_node:
            return per_node[sorted(per_node)[0]]
        return self.last_config.get(path)

    # ---------------------------------------------------------------------- outputs

    def update(self, paths: set[str], cluster: bool) -> None:
        """Recompute and publish what changed."""
        for p in sorted(paths):
            try:
                self._update_object(p)
            except (ValueError, TypeError, AttributeError) as exc:  # one object must not stop the rest
                log.warning("omon_update_failed", path=p, error=str(exc))
        if cluster:
            self._update_cluster()

    def update_all(self) -> None:
        """Recompute everything (after a rebuild), including objects only published before."""
        self.update(set(self.instances) | set(self.configs) | set(self.published), True)

    def _update_object(self, p: str) -> None:
        try:
            path = ObjectPath.parse(p)
        except ObjectPathError:
            return
        has_config = bool(self.configs.get(p))
        instances = self.instances.get(p) or {}
        if not has_config and not instances:
            self.instances.pop(p, None)
            self.configs.pop(p, None)
            self.last_config.pop(p, None)
            if self.published.pop(p, None) is not None:
                labels = path.labels(self.node)
                self.pub.publish(ObjectStatusDeleted(path=p, node=self.node), labels)
                self.pub.publish(ObjectStatusDone(path=p), labels)
            return
        status = aggregate(self.config_of(p), instances)
        comparable = _comparable(status)
        if self.published.get(p) == comparable:
            return
        self.published[p] = comparable
        self.pub.publish(ObjectStatusUpdated(path=p, node=self.node, object_status=status),
                         path.labels(self.node))

    def _update_cluster(self) -> None:
        status = cluster_status(self.nodes)
        if status == self.cluster:
            return
        self.cluster = status
        self.pub.publish(ClusterStatusUpdated(node=self.node, cluster_status=status), {"node": self.node})

    # ---------------------------------------------------------------------- rebuild

    def load_snapshot(self, entries: list[tuple[str, dict[str, str], dict[str, Any]]]) -> None:
        """Fold the journal's compacted log in: inputs, and the statuses published before."""
        for kind, labels, data in entries:
            if kind in TOPICS:
                self.apply(kind, data)
            elif kind == "ObjectStatusUpdated" and labels.get("node") == self.node:
                try:
                    status = msgspec.convert(data.get("object_status") or {}, ObjectStatus)
                except msgspec.ValidationError:
                    continue
                self.published[data.get("path", "")] = _comparable(status)
            elif kind == "ClusterStatusUpdated" and labels.get("node") == self.node:
                try:
                    self.cluster = msgspec.convert(data.get("cluster_status") or {}, ClusterStatus)
                except msgspec.ValidationError:
                    continue

    def load_local(self, paths: Paths) -> None:
        """Override this node's part with its own files (configs, istat's statuses, frozen flag)."""
        seen = set()
        for path, file in iter_config_files(paths):
            p = str(path)
            seen.add(p)
            try:
                data = file.read_bytes()
                cfg = parse_config(data.decode("utf-8", errors="replace"), self.node)
            except (OSError, ObjectConfigError):
                continue  # discover reports it; the snapshot's last good config stays
            if self.node in cfg.nodes:
                ic = instance_config(path, cfg, checksum(data), rfc3339_ns(file.stat().st_mtime_ns))
                self.apply("InstanceConfigUpdated", {"path": p, "node": self.node, "instance_config": ic})
        for p, per_node in self.configs.items():
            if p not in seen:
                per_node.pop(self.node, None)
        from omd.subsystems.istat import saved_statuses

        saved = saved_statuses(paths)
        if isinstance(saved, dict):
            for per_node in self.instances.values():
                per_node.pop(self.node, None)
            for p, rec in saved.items():
                if isinstance(rec, dict) and isinstance(rec.get("status"), dict):
                    self.instances.setdefault(p, {})[self.node] = rec["status"]
        self.nodes[self.node] = {"frozen": frozen.node_frozen_at(paths) != ZERO_TIME, "compat": COMPAT}


def fetch_snapshot(ctx: zmq.Context, paths: Paths,
                   timeout: float = SNAPSHOT_TIMEOUT) -> list[tuple[str, dict[str, str], dict[str, Any]]] | None:
    """The journal's compacted log as (kind, labels, data), or None when the journal does not answer."""
    client = JournalClient(ctx, paths, timeout=timeout)
    try:
        snapshot = client.snapshot()
    except JournalError as exc:
        log.warning("omon_snapshot_unavailable", error=str(exc))
        return None
    finally:
        client.close()
    out = []
    for record in snapshot.records:
        try:
            labels = record.labels
            data = json.loads(record.data)
        except (FrameError, ValueError):  # one bad entry must not lose the rest
            continue
        if isinstance(data, dict):
            out.append((record.kind, labels, data))
    return out


class OmonSubsystem(Subsystem):
    """omon on the runtime: fold each burst of inputs, then recompute each touched object once.

    It owns no `state_kinds` for the runtime's resync: it compares what it computes with what
    the journal holds (its snapshot) and publishes the differences, deletions included, at
    start and whenever a journal joins.
    """

    topics = TOPICS

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self.omon = Omon(rt.nodename, rt.pub)
        self.touched: set[str] = set()
        self.cluster = False

    def start(self) -> None:
        """Subscribed before the snapshot: an event is in the snapshot, or received, or both
        (folding one twice is harmless)."""
        assert self.rt.ctx is not None
        snapshot = fetch_snapshot(self.rt.ctx, self.rt.paths)
        if snapshot is not None:
            self.omon.load_snapshot(snapshot)
        self.omon.load_local(self.rt.paths)
        log.info("omon_started", snapshot=snapshot is not None, objects=len(self.omon.published))
        self.omon.update_all()

    def republish(self) -> None:
        """A journal joined: what it holds may be older than what we published; publish the
        differences against its snapshot."""
        assert self.rt.ctx is not None
        snapshot = fetch_snapshot(self.rt.ctx, self.rt.paths)
        self.omon.published.clear()
        self.omon.cluster = None
        for kind, labels, data in snapshot or ():
            if kind in ("ObjectStatusUpdated", "ClusterStatusUpdated"):
                self.omon.load_snapshot([(kind, labels, data)])
        self.omon.update_all()

    def on_message(self, msg: Message) -> None:
        try:
            paths_to_update, cluster_changed = self.omon.apply(msg.kind, msg.data_obj())
        except (ValueError, TypeError, AttributeError, msgspec.ValidationError) as exc:
            log.warning("omon_message_dropped", kind=msg.kind, error=str(exc))
            return
        self.touched |= paths_to_update
        self.cluster = self.cluster or cluster_changed

    def on_idle(self) -> None:
        if self.touched or self.cluster:
            touched, self.touched = self.touched, set()
            cluster, self.cluster = self.cluster, False
            self.omon.update(touched, cluster)


def run(rt: Runtime) -> int:
    """Aggregate and publish until SIGTERM/SIGINT."""
    return rt.run(OmonSubsystem)
