"""The event model: one msgspec Struct per event kind, and what the daemon knows of each kind.

Kind names, data field names and their JSON encoding follow upstream OpenSVC om3 (see
docs/events.md). Every event's data starts with ``labels`` (a string map, or null), as
upstream's Go encoding does, because the data bytes go to SSE clients unchanged.

Besides the schema, each kind declares (`KindInfo`):

- ``forwarded``: relayed to peer nodes by the heartbeats (upstream's localEventMustBeForwarded);
- ``replay``: part of the replayed current state (upstream's ExtractableEvents);
- ``identity``: for state kinds, the data fields that name the thing it describes; the
  compacted log keeps the last event per (state group, identity);
- ``removes``: for Deleted kinds, the state kinds whose identity they remove.

Nested values that clients filter and template on most (instance, object, node and cluster
status, node stats) are typed; rarer nested values are free JSON objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

from omd.errors import UnknownKindError, ValidationError

ZERO_TIME = "0001-01-01T00:00:00Z"

Labels = dict[str, str]
JSONObject = dict[str, Any]


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
# Events


class Event(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every event kind. `labels` is declared here so it is encoded first."""

    labels: Labels | None = None

    kind: ClassVar[str]


_REGISTRY: dict[str, type[Event]] = {}


def _register(cls: type[Event]) -> type[Event]:
    cls.kind = cls.__name__
    _REGISTRY[cls.__name__] = cls
    return cls


def _kinds(*classes: type[Event]) -> None:
    for cls in classes:
        _register(cls)


# Cluster
class ClusterConfigUpdated(Event, kw_only=True):
    node: str = ""
    cluster_config: JSONObject = {}
    nodes_added: list[str] = []
    nodes_removed: list[str] = []
    network_changed: bool = False


class ClusterStatusUpdated(Event, kw_only=True):
    node: str = ""
    cluster_status: ClusterStatus = msgspec.field(default_factory=ClusterStatus)


class JoinRequest(Event, kw_only=True):
    candidate_node: str = ""


class JoinIgnored(Event, kw_only=True):
    candidate_node: str = ""


class JoinError(Event, kw_only=True):
    candidate_node: str = ""
    reason: str = ""


class JoinSuccess(Event, kw_only=True):
    added_node: str = ""


class LeaveRequest(Event, kw_only=True):
    candidate_node: str = ""


class LeaveIgnored(Event, kw_only=True):
    candidate_node: str = ""


class LeaveError(Event, kw_only=True):
    candidate_node: str = ""
    Reason: str = ""  # upstream has no JSON tag on this field


class LeaveSuccess(Event, kw_only=True):
    removed_node: str = ""


class ArbitratorError(Event, kw_only=True):
    node: str = ""
    name: str = ""
    error: str = ""


class ForgetPeer(Event, kw_only=True):
    node: str = ""


# Config files
class ConfigFileUpdated(Event, kw_only=True):
    path: str = ""
    file: str = ""


class ConfigFileRemoved(Event, kw_only=True):
    path: str = ""
    file: str = ""


class RemoteFileConfig(Event, kw_only=True):
    path: str = ""
    node: str = ""
    file: str = ""
    freeze: bool = False
    updated_at: str = ZERO_TIME


# Daemon
class DaemonCollectorUpdated(Event, kw_only=True):
    node: str = ""
    collector: JSONObject = {}


class DaemonCtl(Event, kw_only=True):
    component: str = ""
    action: str = ""


class DaemonDataUpdated(Event, kw_only=True):
    node: str = ""
    daemondata: JSONObject = {}


class DaemonDnsUpdated(Event, kw_only=True):
    node: str = ""
    dns: JSONObject = {}


class DaemonHeartbeatUpdated(Event, kw_only=True):
    node: str = ""
    heartbeat: JSONObject = {}


class DaemonListenerUpdated(Event, kw_only=True):
    node: str = ""
    listener: JSONObject = {}


class DaemonRunnerImonUpdated(Event, kw_only=True):
    node: str = ""
    runner_imon: JSONObject = {}


class DaemonSchedulerUpdated(Event, kw_only=True):
    node: str = ""
    scheduler: JSONObject = {}


class DaemonStatusUpdated(Event, kw_only=True):
    """Daemon life cycle. `subsystems` is omd's addition: state of each subsystem process."""

    node: str = ""
    version: str = ""
    status: str = ""
    subsystems: dict[str, JSONObject] | UnsetType = UNSET


class WatchDog(Event, kw_only=True):
    bus: str = ""


# DNS
class ZoneRecordUpdated(Event, kw_only=True):
    path: str = ""
    node: str = ""
    name: str = ""
    type: str = ""
    ttl: int = 0
    content: str = ""


class ZoneRecordDeleted(Event, kw_only=True):
    path: str = ""
    node: str = ""
    name: str = ""
    type: str = ""
    ttl: int = 0
    content: str = ""


# Exec
class Exec(Event, kw_only=True):
    command: str = ""
    node: str = ""
    origin: str = ""
    title: str = ""
    session_id: str = ""
    exec_id: str = ""


class ExecFailed(Exec, kw_only=True):
    duration: int = 0  # nanoseconds, as Go's time.Duration
    error: str = ""


class ExecSuccess(Exec, kw_only=True):
    duration: int = 0


# Heartbeat
class HeartbeatMessageTypeUpdated(Event, kw_only=True):
    node: str = ""
    old_type: str = ""
    new_type: str = ""
    nodes: list[str] = []
    joined_nodes: list[str] = []
    installed_gens: dict[str, int] = {}


class HeartbeatAlive(Event, kw_only=True):
    node: str = ""  # the peer
    hb_id: str = ""
    at: str = ZERO_TIME


class HeartbeatStale(Event, kw_only=True):
    node: str = ""
    hb_id: str = ""
    at: str = ZERO_TIME


class HeartbeatRotateRequest(Event, kw_only=True):
    id: str = ""


class HeartbeatRotateSuccess(Event, kw_only=True):
    id: str = ""


class HeartbeatRotateError(Event, kw_only=True):
    id: str = ""
    reason: str = ""


class HeartbeatSecretUpdated(Event, kw_only=True):
    nodename: str = ""
    hb_secret: HbSecret = msgspec.field(default_factory=HbSecret)


# Instance
class InstanceConfigUpdated(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_config: JSONObject = {}


class InstanceConfigDeleted(Event, kw_only=True):
    path: str = ""
    node: str = ""


class InstanceConfigManagerDone(Event, kw_only=True):
    path: str = ""
    file: str = ""


class InstanceFrozenFileUpdated(Event, kw_only=True):
    path: str = ""
    file: str = ""
    at: str = ZERO_TIME


class InstanceFrozenFileRemoved(Event, kw_only=True):
    path: str = ""
    file: str = ""
    at: str = ZERO_TIME


class InstanceMonitorAction(Event, kw_only=True):
    path: str = ""
    node: str = ""
    action: str = ""
    rid: str = ""


class InstanceMonitorUpdated(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_monitor: JSONObject = {}


class InstanceMonitorDeleted(Event, kw_only=True):
    path: str = ""
    node: str = ""
    orchestration_end: JSONObject | None = None


class InstanceStatusUpdated(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_status: InstanceStatus = msgspec.field(default_factory=InstanceStatus)


class InstanceStatusDeleted(Event, kw_only=True):
    path: str = ""
    node: str = ""
    peer_drop_at: str = ZERO_TIME


class InstanceStatusPost(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_status: InstanceStatus = msgspec.field(default_factory=InstanceStatus)


class ProgressInstanceMonitor(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_monitor_state: str = ""
    session_id: str = ""
    is_partial: bool = False


class SetInstanceMonitor(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_monitor_update: JSONObject = {}


class SetInstanceMonitorRefused(Event, kw_only=True):
    path: str = ""
    node: str = ""
    instance_monitor_update: JSONObject = {}


class RunFileUpdated(Event, kw_only=True):
    path: str = ""
    file: str = ""
    rid: str = ""
    at: str = ZERO_TIME


class RunFileRemoved(Event, kw_only=True):
    path: str = ""
    file: str = ""
    rid: str = ""
    at: str = ZERO_TIME


# Node
class NodeAlive(Event, kw_only=True):
    node: str = ""  # the peer


class NodeStale(Event, kw_only=True):
    node: str = ""


class NodeConfigUpdated(Event, kw_only=True):
    node: str = ""
    node_config: JSONObject = {}


class NodeDataUpdated(Event, kw_only=True):
    node: str = ""
    node_data: JSONObject = {}


class NodeFrozen(Event, kw_only=True):
    node: str = ""
    is_frozen: bool = False
    frozen_at: str = ZERO_TIME


class NodeFrozenFileUpdated(Event, kw_only=True):
    file: str = ""
    at: str = ZERO_TIME


class NodeFrozenFileRemoved(Event, kw_only=True):
    file: str = ""


class NodeMonitorUpdated(Event, kw_only=True):
    node: str = ""
    node_monitor: JSONObject = {}


class NodeMonitorDeleted(Event, kw_only=True):
    node: str = ""


class NodeOsPathsUpdated(Event, kw_only=True):
    node: str = ""
    san_paths: list[JSONObject] = []


class NodePoolStatusUpdated(Event, kw_only=True):
    node: str = ""
    name: str = ""
    pool_status: JSONObject = {}


class NodePoolStatusDeleted(Event, kw_only=True):
    node: str = ""
    name: str = ""


class NodeRejoin(Event, kw_only=True):
    IsUpgrading: bool = False  # upstream has no JSON tags on these fields
    LastShutdownAt: str = ZERO_TIME
    Nodes: list[str] = []


class NodeSplitAction(Event, kw_only=True):
    node: str = ""
    action: str = ""
    node_votes: int = 0
    arbitrator_votes: int = 0
    voting: int = 0
    pro_voters: int = 0


class NodeStatsUpdated(Event, kw_only=True):
    node: str = ""
    node_stats: NodeStats = msgspec.field(default_factory=NodeStats)


class NodeStatusUpdated(Event, kw_only=True):
    node: str = ""
    node_status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class NodeStatusArbitratorsUpdated(Event, kw_only=True):
    node: str = ""
    arbitrator_status: JSONObject = {}


class NodeStatusGenUpdates(Event, kw_only=True):
    Node: str = ""  # upstream has no JSON tag on this field
    gens: dict[str, int] = {}


class NodeStatusLabelsUpdated(Event, kw_only=True):
    """Listed in the user documentation but absent upstream; same shape as NodeLabelsUpdated."""

    node: str = ""
    node_labels: dict[str, str] = {}


class NodeLabelsUpdated(Event, kw_only=True):
    node: str = ""
    node_labels: dict[str, str] = {}


class NodeLabelsCommited(Event, kw_only=True):
    node: str = ""
    node_labels: dict[str, str] = {}


class SetNodeMonitor(Event, kw_only=True):
    node: str = ""
    node_monitor_update: JSONObject = {}


# Object
class ObjectCreated(Event, kw_only=True):
    path: str = ""
    node: str = ""


class ObjectDeleted(Event, kw_only=True):
    path: str = ""
    node: str = ""


class ObjectOrchestrationAccepted(Event, kw_only=True):
    id: str = ""
    node: str = ""
    path: str = ""
    global_expect: str = ""
    global_expect_updated_at: str = ZERO_TIME


class ObjectOrchestrationEnd(Event, kw_only=True):
    id: str = ""
    node: str = ""
    path: str = ""
    global_expect: str = ""
    global_expect_updated_at: str = ZERO_TIME
    aborted: bool = False


class ObjectOrchestrationRefused(Event, kw_only=True):
    id: str = ""
    node: str = ""
    path: str = ""
    reason: str = ""
    global_expect: str | None = None


class ObjectStatusUpdated(Event, kw_only=True):
    path: str = ""
    node: str = ""
    object_status: ObjectStatus = msgspec.field(default_factory=ObjectStatus)
    source_event: JSONObject | None = None


class ObjectStatusDeleted(Event, kw_only=True):
    path: str = ""
    node: str = ""


class ObjectStatusDone(Event, kw_only=True):
    path: str = ""


# Event subscription
class ClientSubscribed(Event, kw_only=True):
    at: str = ZERO_TIME
    name: str = ""


class ClientUnsubscribed(Event, kw_only=True):
    at: str = ZERO_TIME
    name: str = ""


class SubscriptionError(Event, kw_only=True):
    """A stream lost events. `gap_after` / `gap_resume_from` are omd's additions: the client's
    Last-Event-ID and the first id still available, when the gap is a resume outside the ring."""

    id: str = ""
    name: str = ""
    error: str = ""
    gap_after: int | UnsetType = UNSET
    gap_resume_from: int | UnsetType = UNSET


class SubscriptionQueueThreshold(Event, kw_only=True):
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

    message: str = ""
    level: str = ""
    subsystem: str = ""


for _cls in list(Event.__subclasses__()) + list(Exec.__subclasses__()):
    _register(_cls)
del _cls


# --------------------------------------------------------------------------------------------
# What the daemon knows of each kind


@dataclass(frozen=True, slots=True)
class KindInfo:
    """Routing and state facts about one kind (see the module docstring)."""

    name: str
    type: type[Event]
    forwarded: bool = False
    replay: bool = False
    group: str = ""
    identity: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()

    @property
    def is_state(self) -> bool:
        """True when the compacted log keeps the last event of this kind per identity."""
        return bool(self.group)


FORWARDED = frozenset(
    """
    DaemonCollectorUpdated DaemonDataUpdated DaemonDnsUpdated DaemonHeartbeatUpdated
    DaemonListenerUpdated DaemonRunnerImonUpdated DaemonSchedulerUpdated DaemonStatusUpdated
    InstanceConfigDeleted InstanceConfigUpdated InstanceMonitorDeleted InstanceMonitorUpdated
    InstanceStatusUpdated InstanceStatusDeleted HeartbeatRotateError HeartbeatRotateSuccess
    HeartbeatSecretUpdated NodeConfigUpdated NodeMonitorDeleted NodeMonitorUpdated
    NodeOsPathsUpdated NodeStatsUpdated NodeStatusUpdated NodeLabelsUpdated ObjectCreated
    ObjectOrchestrationAccepted ObjectOrchestrationEnd ObjectOrchestrationRefused
    ObjectStatusDeleted NodePoolStatusDeleted NodePoolStatusUpdated
    """.split()
)

# Upstream's ExtractableEvents order: replay emits state kinds in this order.
REPLAY_ORDER: tuple[str, ...] = tuple(
    """
    NodeDataUpdated NodePoolStatusUpdated NodeAlive NodeStale NodeConfigUpdated
    NodeMonitorUpdated NodeOsPathsUpdated NodeStatsUpdated NodeStatusUpdated
    ClusterConfigUpdated ClusterStatusUpdated DaemonDataUpdated DaemonHeartbeatUpdated
    DaemonCollectorUpdated DaemonDnsUpdated DaemonListenerUpdated DaemonRunnerImonUpdated
    DaemonSchedulerUpdated HeartbeatAlive HeartbeatStale InstanceConfigUpdated
    InstanceMonitorUpdated InstanceStatusUpdated ObjectStatusUpdated
    """.split()
)

# Replayed only when a filter names it explicitly, as upstream.
REPLAY_ON_REQUEST = frozenset({"NodeStatusArbitratorsUpdated"})

# State kinds: kind -> (state group, identity fields of the data). Kinds of one group replace
# each other (a peer is either alive or stale).
_STATE: dict[str, tuple[str, tuple[str, ...]]] = {
    "ClusterConfigUpdated": ("ClusterConfig", ()),
    "ClusterStatusUpdated": ("ClusterStatus", ()),
    "NodeDataUpdated": ("NodeData", ("node",)),
    "NodeConfigUpdated": ("NodeConfig", ("node",)),
    "NodeMonitorUpdated": ("NodeMonitor", ("node",)),
    "NodeOsPathsUpdated": ("NodeOsPaths", ("node",)),
    "NodeStatsUpdated": ("NodeStats", ("node",)),
    "NodeStatusUpdated": ("NodeStatus", ("node",)),
    "NodeStatusArbitratorsUpdated": ("NodeStatusArbitrators", ("node",)),
    "NodePoolStatusUpdated": ("NodePoolStatus", ("node", "name")),
    "NodeAlive": ("NodeLiveness", ("labels.node", "node")),
    "NodeStale": ("NodeLiveness", ("labels.node", "node")),
    "HeartbeatAlive": ("HeartbeatLiveness", ("labels.node", "hb_id", "node")),
    "HeartbeatStale": ("HeartbeatLiveness", ("labels.node", "hb_id", "node")),
    "DaemonDataUpdated": ("DaemonData", ("node",)),
    "DaemonHeartbeatUpdated": ("DaemonHeartbeat", ("node",)),
    "DaemonCollectorUpdated": ("DaemonCollector", ("node",)),
    "DaemonDnsUpdated": ("DaemonDns", ("node",)),
    "DaemonListenerUpdated": ("DaemonListener", ("node",)),
    "DaemonRunnerImonUpdated": ("DaemonRunnerImon", ("node",)),
    "DaemonSchedulerUpdated": ("DaemonScheduler", ("node",)),
    "InstanceConfigUpdated": ("InstanceConfig", ("path", "node")),
    "InstanceMonitorUpdated": ("InstanceMonitor", ("path", "node")),
    "InstanceStatusUpdated": ("InstanceStatus", ("path", "node")),
    "ObjectStatusUpdated": ("ObjectStatus", ("path",)),
}

# Deleted kinds: kind -> state groups whose identity (same fields) they remove.
_REMOVES: dict[str, tuple[str, ...]] = {
    "InstanceConfigDeleted": ("InstanceConfig",),
    "InstanceMonitorDeleted": ("InstanceMonitor",),
    "InstanceStatusDeleted": ("InstanceStatus",),
    "NodeMonitorDeleted": ("NodeMonitor",),
    "NodePoolStatusDeleted": ("NodePoolStatus",),
    "ObjectStatusDeleted": ("ObjectStatus",),
}

KINDS: dict[str, KindInfo] = {}
for _name, _type in sorted(_REGISTRY.items()):
    _group, _identity = _STATE.get(_name, ("", ()))
    _removes = _REMOVES.get(_name, ())
    if _removes:
        _identity = next(ident for group, ident in _STATE.values() if group == _removes[0])
    KINDS[_name] = KindInfo(
        name=_name,
        type=_type,
        forwarded=_name in FORWARDED,
        replay=_name in REPLAY_ORDER or _name in REPLAY_ON_REQUEST,
        group=_group,
        identity=_identity,
        removes=_removes,
    )
del _name, _type, _group, _identity, _removes

KIND_NAMES: tuple[str, ...] = tuple(sorted(KINDS))


def kind_info(name: str) -> KindInfo:
    """The `KindInfo` of `name`; raises `UnknownKindError` suggesting the closest names."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKindError(name, KIND_NAMES) from None


def event_type(name: str) -> type[Event]:
    """The Struct type of kind `name`; raises `UnknownKindError`."""
    return kind_info(name).type


def identity_of(info: KindInfo, data: dict[str, Any]) -> tuple[str, ...]:
    """The identity values of a decoded state or Deleted event's data (`labels.x` reads labels)."""
    values = []
    for field in info.identity:
        if field.startswith("labels."):
            labels = data.get("labels") or {}
            values.append(str(labels.get(field[7:], "")))
        else:
            values.append(str(data.get(field, "")))
    return tuple(values)


_decoders: dict[str, msgspec.json.Decoder] = {}


def decode_data(kind: str, data: bytes) -> Event:
    """Decode and validate the JSON data of an event of `kind`.

    Raises `UnknownKindError` or `ValidationError` (whose `path` names the field at fault).
    """
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(event_type(kind))
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else ""
        raise ValidationError(kind, text, path) from None
    except msgspec.DecodeError as exc:
        raise ValidationError(kind, str(exc)) from None


def from_builtins(kind: str, obj: dict[str, Any]) -> Event:
    """Build and validate an event of `kind` from a decoded JSON object."""
    try:
        return msgspec.convert(obj, event_type(kind))
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else ""
        raise ValidationError(kind, text, path) from None
