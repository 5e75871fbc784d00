"""The event model: one msgspec Struct per event kind, and what the daemon knows of each kind.

Kind names, data field names and their JSON encoding follow upstream OpenSVC om3 (see
docs/events.md). Every event's data starts with ``labels`` (a string map, or null), as
upstream's Go encoding does, because the data bytes go to SSE clients unchanged.

Adding a kind means one class here (and one row in docs/events.md): the class declares its
facts in its ``facts`` class variable (`Facts`), and `Event.__init_subclass__` registers it in
`KINDS`, so no subclass can be missed, however deep. The facts:

- ``publishers``: the local subsystems that publish it of their own (``daemon`` is the
  supervisor, ``hb`` the heartbeat processes);
- ``api``: the weakest role that may inject it through ``POST /api/node/event``, or None:
  never through that endpoint (docs/events.md says why, per class of kind);
- ``forwarded``: relayed to peer nodes by the heartbeats (upstream's localEventMustBeForwarded);
- ``peer``: a peer node may inject it over the heartbeats (forwarded kinds only; see
  `peer_may_publish`);
- ``replay``: its rank in upstream's replay order (ExtractableEvents), when it is part of the
  replayed current state; ``replay_on_request``: replayed only when a filter names it;
- ``group`` / ``identity``: for state kinds, the state group and the data fields that name the
  thing it describes; the compacted log keeps the last event per (group, identity);
- ``removes``: for Deleted kinds, the state groups whose identity (same fields) they remove.

Decoding is lenient on the wire (`decode_data` ignores fields unknown to this version: a newer
peer may add some) and strict on API input (`from_builtins` refuses an unknown top-level field).
Nested values that clients filter and template on most (instance, object, node and cluster
status, node stats) are typed; rarer nested values are free JSON objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import msgspec
from msgspec import UNSET, UnsetType

from omd.errors import UnknownKindError, ValidationError

ZERO_TIME = "0001-01-01T00:00:00Z"

Labels = dict[str, str]
JSONObject = dict[str, Any]

# The roles of the API, weakest first (omd.subsystems.gateway.auth.ROLES is the same tuple).
ROLES = ("guest", "operator", "admin", "root")

# The names a kind's publishers may use: the subsystem processes (omd.daemon.registry), the
# supervisor (`daemon`) and the heartbeats (`hb`, whose instances are `hb#1.tx`, `hb#1.rx`, ...).
PUBLISHER_NAMES = frozenset({"daemon", "bus", "journal", "gateway", "nmon", "discover", "istat",
                             "omon", "scheduler", "hb"})
EVERY_PROCESS = PUBLISHER_NAMES


# --------------------------------------------------------------------------------------------
# Nested value types (upstream's core/* structs, one level deep where clients use them)


class Nested(msgspec.Struct):
    """Base of nested values: lenient about fields a newer peer may add."""


class ResourceStatus(Nested, kw_only=True):
    """A resource's status, the value of ``instance_status.resources."<rid>"``."""

    label: str = ""
    status: str = "undef"
    type: str = ""
    log: list[JSONObject] | UnsetType = UNSET
    provisioned: JSONObject | UnsetType = UNSET
    monitor: bool | UnsetType = UNSET
    disable: bool | UnsetType = UNSET
    optional: bool | UnsetType = UNSET
    encap: bool | UnsetType = UNSET
    standby: bool | UnsetType = UNSET
    stopped: bool | UnsetType = UNSET
    subset: str | UnsetType = UNSET
    info: JSONObject | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    files: list[JSONObject] | UnsetType = UNSET


class InstanceStatus(Nested, kw_only=True):
    """An object instance's status on one node (upstream instance.Status)."""

    avail: str = "undef"
    encap: JSONObject | UnsetType = UNSET
    frozen_at: str = ZERO_TIME
    last_started_at: str = ZERO_TIME
    optional: str | UnsetType = UNSET
    overall: str = "undef"
    provisioned: str = "undef"
    resources: dict[str, ResourceStatus] | UnsetType = UNSET
    running: list[JSONObject] | UnsetType = UNSET
    updated_at: str = ZERO_TIME


class ObjectStatus(Nested, kw_only=True):
    """An object's status aggregated over its instances (upstream object.Status)."""

    avail: str = "undef"
    frozen: str = "n/a"
    orchestrate: str = ""
    overall: str = "undef"
    placement_policy: str = ""
    placement_state: str = ""
    priority: int = 0
    provisioned: str = "undef"
    scope: list[str] = []
    topology: str = ""
    up_instances_count: int = 0
    updated_at: str = ZERO_TIME
    flex: JSONObject | UnsetType = UNSET
    pool: str | UnsetType = UNSET
    size: int | UnsetType = UNSET


class NodeStats(Nested, kw_only=True):
    """Node resource usage (upstream node.Stats): percents and MB."""

    load_15m: float = 0.0
    mem_avail: int = 0
    mem_total: int = 0
    score: int = 0
    swap_avail: int = 0
    swap_total: int = 0


class NodeStatus(Nested, kw_only=True):
    """Node status (upstream node.Status)."""

    agent: str = ""
    api: int = 0
    arbitrators: JSONObject = {}
    compat: int = 0
    frozen_at: str = ZERO_TIME
    gen: dict[str, int] = {}
    is_leader: bool = False
    is_overloaded: bool = False
    labels: dict[str, str] = {}
    booted_at: str = ZERO_TIME
    left_at: str = ZERO_TIME
    rejoined_at: str = ZERO_TIME


class ClusterStatus(Nested, kw_only=True):
    """Cluster-wide status (upstream clusterdump.Status)."""

    is_compat: bool = False
    is_frozen: bool = False


class HbSecret(Nested, kw_only=True):
    """Heartbeat secret versions; the secrets themselves are never serialized."""

    version: int = 0
    alt_version: int | UnsetType = UNSET


# --------------------------------------------------------------------------------------------
# The facts of a kind


@dataclass(frozen=True, slots=True)
class Facts:
    """What a kind declares of itself, in its ``facts`` class variable (see the module docstring).

    The defaults are the most restrictive: published by no one, never through the API, not
    forwarded, not replayed, not state.
    """

    publishers: Iterable[str] = frozenset()
    api: str | None = None
    forwarded: bool = False
    peer: bool | None = None  # None: the same as forwarded
    replay: int | None = None
    replay_on_request: bool = False
    group: str = ""
    identity: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    # private: about the daemon itself (its logs, its API clients, its scheduler's commands),
    # not about any namespace's objects: never shown to a reader limited to some namespaces
    private: bool = False


@dataclass(frozen=True, slots=True)
class KindInfo:
    """The facts of one registered kind, checked, with its name and Struct type."""

    name: str
    type: type[Event]
    publishers: frozenset[str] = frozenset()
    api: str | None = None
    forwarded: bool = False
    peer: bool = False
    replay_rank: int | None = None
    replay_on_request: bool = False
    group: str = ""
    identity: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    private: bool = False

    @property
    def replay(self) -> bool:
        """True when the kind is part of the replayed current state (always, or on request)."""
        return self.replay_rank is not None or self.replay_on_request

    @property
    def is_state(self) -> bool:
        """True when the compacted log keeps the last event of this kind per identity."""
        return bool(self.group)

    def may_publish(self, name: str) -> bool:
        """True when the process named `name` (a publisher id's name, see `publisher_name`) may
        publish this kind on the local bus: a declared publisher, the gateway for kinds the API
        may inject, or a heartbeat process republishing what a peer may inject."""
        subsystem = name.partition("#")[0]
        return (subsystem in self.publishers or (subsystem == "gateway" and self.api is not None)
                or (subsystem == "hb" and self.peer))


# Every registered kind by name, filled by Event.__init_subclass__.
KINDS: dict[str, KindInfo] = {}
KIND_NAMES: tuple[str, ...] = ()
# State group -> identity fields, to check that the kinds of one group agree and to give
# Deleted kinds the identity of the groups they remove.
_GROUPS: dict[str, tuple[str, ...]] = {}


def _register(cls: type[Event]) -> None:
    """Check the facts `cls` declares and add it to KINDS; TypeError names what is wrong."""
    global KIND_NAMES
    name = cls.__name__
    facts = cls.__dict__.get("facts", Facts())  # never inherited: a subkind states its own
    if not isinstance(facts, Facts):
        raise TypeError(f"{name}.facts must be a Facts, not {type(facts).__name__}")
    if name in KINDS:
        raise TypeError(f"event kind {name} is defined twice ({KINDS[name].type.__module__} and {cls.__module__})")
    publishers = frozenset(facts.publishers)
    if isinstance(facts.publishers, str) or not publishers <= PUBLISHER_NAMES:
        raise TypeError(f"{name}: publishers must be names among {sorted(PUBLISHER_NAMES)}, got {facts.publishers!r}")
    if facts.api is not None and facts.api not in ROLES:
        raise TypeError(f"{name}: api must be one of {ROLES} or None, got {facts.api!r}")
    peer = facts.forwarded if facts.peer is None else facts.peer
    if peer and not facts.forwarded:
        raise TypeError(f"{name}: only forwarded kinds may come from a peer")
    if (facts.replay is not None or facts.replay_on_request) and not facts.group:
        raise TypeError(f"{name}: a replayed kind is a state kind: give its group and identity")
    if facts.group and facts.removes:
        raise TypeError(f"{name}: a kind is either a state kind (group) or a Deleted kind (removes)")
    identity = facts.identity
    if facts.group:
        known = _GROUPS.setdefault(facts.group, identity)
        if known != identity:
            raise TypeError(f"{name}: group {facts.group} has identity {known}, not {identity}")
    for group in facts.removes:
        if group not in _GROUPS:
            raise TypeError(f"{name} removes {group}: declare a kind of that group first")
        if identity and _GROUPS[group] != identity:
            raise TypeError(f"{name}: the groups it removes do not share one identity")
        identity = _GROUPS[group]
    cls.kind = name
    KINDS[name] = KindInfo(
        name=name, type=cls, publishers=publishers, api=facts.api, forwarded=facts.forwarded, peer=peer,
        replay_rank=facts.replay, replay_on_request=facts.replay_on_request, group=facts.group,
        identity=identity, removes=tuple(facts.removes), private=facts.private)
    KIND_NAMES = tuple(sorted(KINDS))


# --------------------------------------------------------------------------------------------
# Events


class Event(msgspec.Struct):
    """Base of every event kind. `labels` is declared here so it is encoded first.

    Fields unknown to this version are ignored when decoding (a newer peer's); `from_builtins`
    refuses them in API input. Every subclass is registered as a kind when it is defined.
    """

    labels: Labels | None = None

    kind: ClassVar[str]
    facts: ClassVar[Facts]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)


# Cluster
class ClusterConfigUpdated(Event, kw_only=True):
    facts = Facts(api="root", replay=10, group="ClusterConfig")
    node: str = ""
    cluster_config: JSONObject = {}
    nodes_added: list[str] = []
    nodes_removed: list[str] = []
    network_changed: bool = False


class ClusterStatusUpdated(Event, kw_only=True):
    facts = Facts(publishers={"omon"}, api="root", replay=11, group="ClusterStatus")
    node: str = ""
    cluster_status: ClusterStatus = msgspec.field(default_factory=ClusterStatus)


class JoinRequest(Event, kw_only=True):
    facts = Facts()
    candidate_node: str = ""


class JoinIgnored(Event, kw_only=True):
    facts = Facts(api="root")
    candidate_node: str = ""


class JoinError(Event, kw_only=True):
    facts = Facts(api="root")
    candidate_node: str = ""
    reason: str = ""


class JoinSuccess(Event, kw_only=True):
    facts = Facts(api="root")
    added_node: str = ""


class LeaveRequest(Event, kw_only=True):
    facts = Facts()
    candidate_node: str = ""


class LeaveIgnored(Event, kw_only=True):
    facts = Facts(api="root")
    candidate_node: str = ""


class LeaveError(Event, kw_only=True):
    facts = Facts(api="root")
    candidate_node: str = ""
    Reason: str = ""  # upstream has no JSON tag on this field


class LeaveSuccess(Event, kw_only=True):
    facts = Facts(api="root")
    removed_node: str = ""


class ArbitratorError(Event, kw_only=True):
    facts = Facts(api="root")
    node: str = ""
    name: str = ""
    error: str = ""


class ForgetPeer(Event, kw_only=True):
    facts = Facts(publishers={"hb"})
    node: str = ""


# Config files
class ConfigFileUpdated(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    path: str = ""
    file: str = ""


class ConfigFileRemoved(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    path: str = ""
    file: str = ""


class RemoteFileConfig(Event, kw_only=True):
    facts = Facts()
    path: str = ""
    node: str = ""
    file: str = ""
    freeze: bool = False
    updated_at: str = ZERO_TIME


# Daemon
class DaemonCollectorUpdated(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, replay=14, group="DaemonCollector", identity=("node",))
    node: str = ""
    collector: JSONObject = {}


class DaemonCtl(Event, kw_only=True):
    facts = Facts(publishers={"gateway"})
    component: str = ""
    action: str = ""


class DaemonDataUpdated(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root", forwarded=True,
                  replay=12, group="DaemonData", identity=("node",))
    node: str = ""
    daemondata: JSONObject = {}


class DaemonDnsUpdated(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, replay=15, group="DaemonDns", identity=("node",))
    node: str = ""
    dns: JSONObject = {}


class DaemonHeartbeatUpdated(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root", forwarded=True,
                  replay=13, group="DaemonHeartbeat", identity=("node",))
    node: str = ""
    heartbeat: JSONObject = {}


class DaemonListenerUpdated(Event, kw_only=True):
    facts = Facts(publishers={"daemon", "gateway"}, api="root", forwarded=True,
                  replay=16, group="DaemonListener", identity=("node",))
    node: str = ""
    listener: JSONObject = {}


class DaemonRunnerImonUpdated(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, replay=17, group="DaemonRunnerImon", identity=("node",))
    node: str = ""
    runner_imon: JSONObject = {}


class DaemonSchedulerUpdated(Event, kw_only=True):
    facts = Facts(publishers={"scheduler"}, api="root", forwarded=True,
                  replay=18, group="DaemonScheduler", identity=("node",))
    node: str = ""
    scheduler: JSONObject = {}


class DaemonStatusUpdated(Event, kw_only=True):
    """Daemon life cycle. `subsystems` is omd's addition: state of each subsystem process."""

    facts = Facts(publishers={"daemon"}, api="root", forwarded=True)

    node: str = ""
    version: str = ""
    status: str = ""
    subsystems: dict[str, JSONObject] | UnsetType = UNSET


class WatchDog(Event, kw_only=True):
    facts = Facts(publishers={"daemon"})
    bus: str = ""


# DNS
class ZoneRecordUpdated(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    node: str = ""
    name: str = ""
    type: str = ""
    ttl: int = 0
    content: str = ""


class ZoneRecordDeleted(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    node: str = ""
    name: str = ""
    type: str = ""
    ttl: int = 0
    content: str = ""


# Exec
class Exec(Event, kw_only=True):
    facts = Facts(publishers={"scheduler"}, api="root", private=True)
    command: str = ""
    node: str = ""
    origin: str = ""
    title: str = ""
    session_id: str = ""
    exec_id: str = ""


class ExecFailed(Exec, kw_only=True):
    facts = Facts(publishers={"scheduler"}, api="root", private=True)
    duration: int = 0  # nanoseconds, as Go's time.Duration
    error: str = ""


class ExecSuccess(Exec, kw_only=True):
    facts = Facts(publishers={"scheduler"}, api="root", private=True)
    duration: int = 0


# Heartbeat
class HeartbeatMessageTypeUpdated(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root")
    node: str = ""
    old_type: str = ""
    new_type: str = ""
    nodes: list[str] = []
    joined_nodes: list[str] = []
    installed_gens: dict[str, int] = {}


class HeartbeatAlive(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root",
                  replay=19, group="HeartbeatLiveness", identity=("labels.node", "hb_id", "node"))
    node: str = ""  # the peer
    hb_id: str = ""
    at: str = ZERO_TIME


class HeartbeatStale(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root",
                  replay=20, group="HeartbeatLiveness", identity=("labels.node", "hb_id", "node"))
    node: str = ""
    hb_id: str = ""
    at: str = ZERO_TIME


class HeartbeatRotateRequest(Event, kw_only=True):
    facts = Facts(publishers={"gateway"})
    id: str = ""


class HeartbeatRotateSuccess(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root", forwarded=True)
    id: str = ""


class HeartbeatRotateError(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root", forwarded=True)
    id: str = ""
    reason: str = ""


class HeartbeatSecretUpdated(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root", forwarded=True)
    nodename: str = ""
    hb_secret: HbSecret = msgspec.field(default_factory=HbSecret)


# Instance
class InstanceConfigUpdated(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root", forwarded=True,
                  replay=21, group="InstanceConfig", identity=("path", "node"))
    path: str = ""
    node: str = ""
    instance_config: JSONObject = {}


class InstanceConfigDeleted(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root", forwarded=True, removes=("InstanceConfig",))
    path: str = ""
    node: str = ""


class InstanceConfigManagerDone(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    path: str = ""
    file: str = ""


class InstanceFrozenFileUpdated(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    path: str = ""
    file: str = ""
    at: str = ZERO_TIME


class InstanceFrozenFileRemoved(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    path: str = ""
    file: str = ""
    at: str = ZERO_TIME


class InstanceMonitorAction(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    node: str = ""
    action: str = ""
    rid: str = ""


class InstanceMonitorUpdated(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, replay=22, group="InstanceMonitor", identity=("path", "node"))
    path: str = ""
    node: str = ""
    instance_monitor: JSONObject = {}


class InstanceMonitorDeleted(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, removes=("InstanceMonitor",))
    path: str = ""
    node: str = ""
    orchestration_end: JSONObject | None = None


class InstanceStatusUpdated(Event, kw_only=True):
    facts = Facts(publishers={"istat"}, api="root", forwarded=True,
                  replay=23, group="InstanceStatus", identity=("path", "node"))
    path: str = ""
    node: str = ""
    instance_status: InstanceStatus = msgspec.field(default_factory=InstanceStatus)


class InstanceStatusDeleted(Event, kw_only=True):
    facts = Facts(publishers={"istat"}, api="root", forwarded=True, removes=("InstanceStatus",))
    path: str = ""
    node: str = ""
    peer_drop_at: str = ZERO_TIME


class InstanceStatusPost(Event, kw_only=True):
    facts = Facts(publishers={"gateway"}, api="admin")
    path: str = ""
    node: str = ""
    instance_status: InstanceStatus = msgspec.field(default_factory=InstanceStatus)


class ProgressInstanceMonitor(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    node: str = ""
    instance_monitor_state: str = ""
    session_id: str = ""
    is_partial: bool = False


class SetInstanceMonitor(Event, kw_only=True):
    facts = Facts()
    path: str = ""
    node: str = ""
    instance_monitor_update: JSONObject = {}


class SetInstanceMonitorRefused(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    node: str = ""
    instance_monitor_update: JSONObject = {}


class RunFileUpdated(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    file: str = ""
    rid: str = ""
    at: str = ZERO_TIME


class RunFileRemoved(Event, kw_only=True):
    facts = Facts(api="root")
    path: str = ""
    file: str = ""
    rid: str = ""
    at: str = ZERO_TIME


# Node
class NodeAlive(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root",
                  replay=3, group="NodeLiveness", identity=("labels.node", "node"))
    node: str = ""  # the peer


class NodeStale(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root",
                  replay=4, group="NodeLiveness", identity=("labels.node", "node"))
    node: str = ""


class NodeConfigUpdated(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root", forwarded=True,
                  replay=5, group="NodeConfig", identity=("node",))
    node: str = ""
    node_config: JSONObject = {}


class NodeDataUpdated(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root", replay=1, group="NodeData", identity=("node",))
    node: str = ""
    node_data: JSONObject = {}


class NodeFrozen(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root")
    node: str = ""
    is_frozen: bool = False
    frozen_at: str = ZERO_TIME


class NodeFrozenFileUpdated(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    file: str = ""
    at: str = ZERO_TIME


class NodeFrozenFileRemoved(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    file: str = ""


class NodeMonitorUpdated(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root", forwarded=True,
                  replay=6, group="NodeMonitor", identity=("node",))
    node: str = ""
    node_monitor: JSONObject = {}


class NodeMonitorDeleted(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root", forwarded=True, removes=("NodeMonitor",))
    node: str = ""


class NodeOsPathsUpdated(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root", forwarded=True,
                  replay=7, group="NodeOsPaths", identity=("node",))
    node: str = ""
    san_paths: list[JSONObject] = []


class NodePoolStatusUpdated(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, replay=2, group="NodePoolStatus", identity=("node", "name"))
    node: str = ""
    name: str = ""
    pool_status: JSONObject = {}


class NodePoolStatusDeleted(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True, removes=("NodePoolStatus",))
    node: str = ""
    name: str = ""


class NodeRejoin(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root")
    IsUpgrading: bool = False  # upstream has no JSON tags on these fields
    LastShutdownAt: str = ZERO_TIME
    Nodes: list[str] = []


class NodeSplitAction(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root")
    node: str = ""
    action: str = ""
    node_votes: int = 0
    arbitrator_votes: int = 0
    voting: int = 0
    pro_voters: int = 0


class NodeStatsUpdated(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root", forwarded=True,
                  replay=8, group="NodeStats", identity=("node",))
    node: str = ""
    node_stats: NodeStats = msgspec.field(default_factory=NodeStats)


class NodeStatusUpdated(Event, kw_only=True):
    facts = Facts(publishers={"nmon"}, api="root", forwarded=True,
                  replay=9, group="NodeStatus", identity=("node",))
    node: str = ""
    node_status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class NodeStatusArbitratorsUpdated(Event, kw_only=True):
    facts = Facts(api="root", replay_on_request=True, group="NodeStatusArbitrators", identity=("node",))
    node: str = ""
    arbitrator_status: JSONObject = {}


class NodeStatusGenUpdates(Event, kw_only=True):
    facts = Facts(publishers={"hb"}, api="root")
    Node: str = ""  # upstream has no JSON tag on this field
    gens: dict[str, int] = {}


class NodeStatusLabelsUpdated(Event, kw_only=True):
    """Listed in the user documentation but absent upstream; same shape as NodeLabelsUpdated."""

    facts = Facts(api="root")

    node: str = ""
    node_labels: dict[str, str] = {}


class NodeLabelsUpdated(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True)
    node: str = ""
    node_labels: dict[str, str] = {}


class NodeLabelsCommited(Event, kw_only=True):
    facts = Facts(api="root")
    node: str = ""
    node_labels: dict[str, str] = {}


class SetNodeMonitor(Event, kw_only=True):
    facts = Facts()
    node: str = ""
    node_monitor_update: JSONObject = {}


# Object
class ObjectCreated(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root", forwarded=True)
    path: str = ""
    node: str = ""


class ObjectDeleted(Event, kw_only=True):
    facts = Facts(publishers={"discover"}, api="root")
    path: str = ""
    node: str = ""


class ObjectOrchestrationAccepted(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True)
    id: str = ""
    node: str = ""
    path: str = ""
    global_expect: str = ""
    global_expect_updated_at: str = ZERO_TIME


class ObjectOrchestrationEnd(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True)
    id: str = ""
    node: str = ""
    path: str = ""
    global_expect: str = ""
    global_expect_updated_at: str = ZERO_TIME
    aborted: bool = False


class ObjectOrchestrationRefused(Event, kw_only=True):
    facts = Facts(api="root", forwarded=True)
    id: str = ""
    node: str = ""
    path: str = ""
    reason: str = ""
    global_expect: str | None = None


class ObjectStatusUpdated(Event, kw_only=True):
    facts = Facts(publishers={"omon"}, api="root", replay=24, group="ObjectStatus", identity=("path",))
    path: str = ""
    node: str = ""
    object_status: ObjectStatus = msgspec.field(default_factory=ObjectStatus)
    source_event: JSONObject | None = None


class ObjectStatusDeleted(Event, kw_only=True):
    facts = Facts(publishers={"omon"}, api="root", forwarded=True, removes=("ObjectStatus",))
    path: str = ""
    node: str = ""


class ObjectStatusDone(Event, kw_only=True):
    facts = Facts(publishers={"omon"}, api="root")
    path: str = ""


# Event subscription
class ClientSubscribed(Event, kw_only=True):
    facts = Facts(publishers={"gateway"}, api="root", private=True)
    at: str = ZERO_TIME
    name: str = ""


class ClientUnsubscribed(Event, kw_only=True):
    facts = Facts(publishers={"gateway"}, api="root", private=True)
    at: str = ZERO_TIME
    name: str = ""


class SubscriptionError(Event, kw_only=True):
    """A stream lost events. `gap_after` / `gap_resume_from` are omd's additions: the client's
    Last-Event-ID and the first id still available, when the gap is a resume outside the ring."""

    facts = Facts(publishers={"gateway"})

    id: str = ""
    name: str = ""
    error: str = ""
    gap_after: int | UnsetType = UNSET
    gap_resume_from: int | UnsetType = UNSET


class SubscriptionQueueThreshold(Event, kw_only=True):
    facts = Facts(publishers={"gateway"}, api="root")
    ID: str = ""  # upstream has no JSON tag on this field
    name: str = ""
    count: int = 0
    # `from` is a Python keyword: the attribute is from_, encoded as "from".
    from_: int = msgspec.field(default=0, name="from")
    to: int = 0
    limit: int = 0


# Misc
class Log(Event, kw_only=True):
    """A log record at info level or above; `subsystem` is omd's addition."""

    facts = Facts(publishers=EVERY_PROCESS, api="root", private=True)

    message: str = ""
    level: str = ""
    subsystem: str = ""


# --------------------------------------------------------------------------------------------
# What the daemon knows of each kind, for its callers


def _replay_order() -> tuple[str, ...]:
    ranked = sorted((info.replay_rank, name) for name, info in KINDS.items() if info.replay_rank is not None)
    ranks = [rank for rank, _ in ranked]
    if ranks != list(range(1, len(ranks) + 1)):
        raise TypeError(f"replay ranks must be 1..{len(ranks)}, each once: {ranked}")
    return tuple(name for _, name in ranked)


# Upstream's ExtractableEvents order: replay emits state kinds in this order.
REPLAY_ORDER: tuple[str, ...] = _replay_order()
# Replayed only when a filter names it explicitly, as upstream.
REPLAY_ON_REQUEST = frozenset(name for name, info in KINDS.items() if info.replay_on_request)
# Relayed to peers by the heartbeats.
FORWARDED = frozenset(name for name, info in KINDS.items() if info.forwarded)


def kind_info(name: str) -> KindInfo:
    """The `KindInfo` of `name`; raises `UnknownKindError` suggesting the closest names."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKindError(name, KIND_NAMES) from None


def event_type(name: str) -> type[Event]:
    """The Struct type of kind `name`; raises `UnknownKindError`."""
    return kind_info(name).type


def identity_of_event(info: KindInfo, event: Event) -> tuple[str, ...]:
    """`identity_of` read from a decoded event (the same values as from its JSON data)."""
    values = []
    for name in info.identity:
        if name.startswith("labels."):
            values.append(str((event.labels or {}).get(name[7:], "")))
        else:
            values.append(str(getattr(event, name, "")))  # identity fields are str, default ""
    return tuple(values)


def identity_of(info: KindInfo, data: dict[str, Any]) -> tuple[str, ...]:
    """The identity values of a decoded state or Deleted event's data (`labels.x` reads labels)."""
    values = []
    for name in info.identity:
        if name.startswith("labels."):
            labels = data.get("labels") or {}
            values.append(str(labels.get(name[7:], "")))
        else:
            values.append(str(data.get(name, "")))
    return tuple(values)


# --------------------------------------------------------------------------------------------
# Decoding: lenient on the wire, strict on API input


_decoders: dict[str, msgspec.json.Decoder] = {}


def _at(text: str) -> str:
    """The `$.x.y` path msgspec puts at the end of a validation message, or ''."""
    return text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else ""


def decode_data(kind: str, data: bytes) -> Event:
    """Decode and validate the JSON data of an event of `kind` received on the wire.

    Fields unknown to this version are ignored (a newer peer may add some; the data bytes
    clients receive keep them). Raises `UnknownKindError` or `ValidationError` (whose `path`
    names the field at fault).
    """
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(event_type(kind))
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ValidationError(kind, str(exc), _at(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ValidationError(kind, str(exc)) from None


def from_builtins(kind: str, obj: dict[str, Any]) -> Event:
    """Build and validate an event of `kind` from a decoded JSON object (API input).

    Strict where `decode_data` is lenient: a top-level field the kind does not have is refused
    (`ValidationError` whose path names it), as it is a caller's mistake, not a newer peer's.
    Nested values stay lenient (`Nested`).
    """
    cls = event_type(kind)
    if isinstance(obj, dict):
        known = cls.__struct_encode_fields__
        for key in obj:
            if key not in known:
                path = f"$.{key}" if isinstance(key, str) and key.isidentifier() else f"$[{key!r}]"
                raise ValidationError(kind, f"Object contains unknown field `{key}` - at `{path}`", path)
    try:
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError as exc:
        raise ValidationError(kind, str(exc), _at(str(exc))) from None


# --------------------------------------------------------------------------------------------
# Who published an event


def publisher_name(pub_id: str) -> str:
    """The process name in a publisher id (`name:pid:uuid`, omd.sockets.Publisher.pub_id), or ''
    when the id does not have that shape (so it names no publisher)."""
    name, pid, tail = _split_pub_id(pub_id)
    return name if pid is not None else ""


def publisher_pid(pub_id: str) -> int | None:
    """The process id in a publisher id (`name:pid:uuid`), or None when it has no such part."""
    return _split_pub_id(pub_id)[1]


def _split_pub_id(pub_id: str) -> tuple[str, int | None, str]:
    parts = pub_id.rsplit(":", 2) if isinstance(pub_id, str) else []
    if len(parts) != 3 or not parts[0] or not parts[1].isascii() or not parts[1].isdigit() or not parts[2]:
        return "", None, ""
    return parts[0], int(parts[1]), parts[2]


def peer_may_publish(kind: str, labels: dict[str, str] | None, peer_node: str) -> str | None:
    """Why the peer node `peer_node` may not inject an event of `kind` with `labels` over the
    heartbeats, or None when it may.

    A peer may relay only the kinds the heartbeats forward (`KindInfo.peer`), only events it
    originated (its own `node` label: a peer speaks for itself, never for a third node or for
    this one), and never a copy it received itself (a `from` label).
    """
    info = KINDS.get(kind)
    if info is None:
        return f"unknown kind {kind!r}"
    if not info.peer:
        return f"{kind} is not a kind peers forward"
    labels = labels or {}
    node = labels.get("node")
    if node != peer_node:
        return f"{kind} with node label {node!r} is not the peer {peer_node!r}'s own event"
    if "from" in labels:
        return f"{kind} with a from={labels['from']} label is a relayed copy, not the peer's own event"
    return None
