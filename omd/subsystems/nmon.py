"""The nmon subsystem (node monitor): this node's stats, status, monitor and config events.

It publishes, all with labels Lh ({node: <this node>}):

- NodeStatsUpdated every `[nmon] stats_interval` seconds, from /proc (see `read_stats` and
  `score`);
- NodeStatusUpdated at start and whenever the status changes (frozen_at from the node frozen
  flag, labels from `[node] labels`);
- NodeFrozen {node, is_frozen, frozen_at} when the node is frozen or thawed;
- NodeMonitorUpdated (state idle) and NodeOsPathsUpdated (no SAN paths are discovered: an
  empty list) at start, NodeMonitorDeleted when it stops;
- NodeConfigUpdated at start and on SIGHUP (the configuration file is re-read; the
  supervisor also restarts subsystems when the configuration changes).

The frozen flag is read from its file (omd.frozen) when discover reports a
NodeFrozenFile* event and at every stats tick, so a missed event delays a change by one
interval at most, and a restarted nmon starts from the file, not from memory.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import structlog

from omd import __version__, config as configmod, frozen
from omd.config import Config
from omd.daemon.runtime import Runtime, Subsystem
from omd.errors import ConfigError
from omd.model.events import (ZERO_TIME, NodeConfigUpdated, NodeFrozen, NodeMonitorDeleted, NodeMonitorUpdated,
                     NodeOsPathsUpdated, NodeStats, NodeStatsUpdated, NodeStatus, NodeStatusUpdated)
from omd.paths import Paths
from omd.model.wire import Message, rfc3339_ns

log = structlog.get_logger()

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# Data compatibility level of omd's node data (node_status.compat): nodes of a cluster with
# different levels are not compatible (ClusterStatusUpdated is_compat).
COMPAT = 1
API = 1


def _meminfo(proc: Path) -> dict[str, int]:
    out = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key] = int(fields[0])  # kB
    return out


def score(load_15m: float, ncpu: int, mem_avail: int, swap_avail: int) -> int:
    """This node's capacity score, 0 (saturated) to 100 (idle), used to rank nodes.

    40% from the 15-minute load per CPU (1 - load/ncpu, floored at 0), 40% from the
    available memory percent and 20% from the available swap percent (a node without
    swap counts as 100% available swap).
    """
    load_part = max(0.0, 1.0 - load_15m / max(1, ncpu))
    value = 100 * (0.4 * load_part + 0.4 * mem_avail / 100 + 0.2 * swap_avail / 100)
    return max(0, min(100, round(value)))


def read_stats(proc: Path = Path("/proc"), ncpu: int | None = None) -> NodeStats:
    """NodeStats from /proc/loadavg and /proc/meminfo (percent ints, totals in MB)."""
    load_15m = float((proc / "loadavg").read_text().split()[2])
    mem = _meminfo(proc)
    mem_total = mem.get("MemTotal", 0)
    mem_free = mem.get("MemAvailable", mem.get("MemFree", 0))
    swap_total = mem.get("SwapTotal", 0)
    swap_free = mem.get("SwapFree", 0)
    mem_avail = round(100 * mem_free / mem_total) if mem_total else 0
    swap_avail = round(100 * swap_free / swap_total) if swap_total else 100
    return NodeStats(
        load_15m=load_15m,
        mem_avail=mem_avail,
        mem_total=mem_total // 1024,
        score=score(load_15m, ncpu or os.cpu_count() or 1, mem_avail, swap_avail),
        swap_avail=swap_avail,
        swap_total=swap_total // 1024,
    )


def booted_at(proc: Path = Path("/proc")) -> str:
    """The boot time from /proc/stat btime, RFC 3339 UTC; ZERO_TIME when unknown."""
    try:
        for line in (proc / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return rfc3339_ns(int(line.split()[1]) * 1_000_000_000)
    except (OSError, ValueError, IndexError):
        pass
    return ZERO_TIME


def node_config(config: Config) -> dict[str, Any]:
    """Upstream's node.Config JSON: the configured labels, upstream's defaults elsewhere."""
    return {
        "env": "",
        "hooks": [],
        "labels": dict(config.node.labels),
        "maintenance_grace_period": 60_000_000_000,
        "max_parallel": 10,
        "max_key_size": 1_048_576,
        "min_avail_mem_pct": 0,
        "min_avail_swap_pct": 0,
        "ready_period": 5_000_000_000,
        "rejoin_grace_period": 90_000_000_000,
        "schedules": [],
        "split_action": "crash",
        "sshkey": "opensvc",
        "prkey": "",
    }


def node_monitor(at: str) -> dict[str, Any]:
    """Upstream's node.Monitor JSON of an idle node monitor."""
    return {
        "global_expect": "none",
        "local_expect": "none",
        "state": "idle",
        "global_expect_updated_at": at,
        "local_expect_updated_at": at,
        "state_updated_at": at,
        "updated_at": at,
        "orchestration_id": ZERO_UUID,
        "orchestration_is_done": False,
        "session_id": ZERO_UUID,
        "preserved": False,
    }


class Nmon:
    """nmon's state and publications, independent of sockets and timers."""

    def __init__(self, config: Config, paths: Paths, pub: Any, proc: Path = Path("/proc")) -> None:
        self.config = config
        self.paths = paths
        self.pub = pub
        self.proc = proc
        self.node = config.nodename
        self.lh = {"node": self.node}
        self.frozen_at = frozen.node_frozen_at(paths)
        self.booted_at = booted_at(proc)
        self.last_status: NodeStatus | None = None

    def status(self) -> NodeStatus:
        """The node status as it is now."""
        return NodeStatus(agent=__version__, api=API, compat=COMPAT, frozen_at=self.frozen_at,
                          gen={self.node: 1}, labels=dict(self.config.node.labels), booted_at=self.booted_at)

    def start(self) -> None:
        """The start-up publications."""
        now = rfc3339_ns()
        self.pub.publish(NodeConfigUpdated(node=self.node, node_config=node_config(self.config)), self.lh)
        self.pub.publish(NodeMonitorUpdated(node=self.node, node_monitor=node_monitor(now)), self.lh)
        self.pub.publish(NodeOsPathsUpdated(node=self.node, san_paths=[]), self.lh)
        self.publish_status()
        self.publish_stats()

    def publish_status(self) -> None:
        """Publish NodeStatusUpdated when the status differs from the last one published."""
        status = self.status()
        if status != self.last_status:
            self.last_status = status
            self.pub.publish(NodeStatusUpdated(node=self.node, node_status=status), self.lh)

    def publish_stats(self) -> None:
        """Publish NodeStatsUpdated (logs and skips when /proc cannot be read)."""
        try:
            stats = read_stats(self.proc)
        except (OSError, ValueError, IndexError) as exc:
            log.warning("nmon_stats_unreadable", error=str(exc))
            return
        self.pub.publish(NodeStatsUpdated(node=self.node, node_stats=stats), self.lh)

    def check_frozen(self) -> None:
        """Re-read the node frozen flag; publish NodeFrozen and the status on a change."""
        at = frozen.node_frozen_at(self.paths)
        if at == self.frozen_at:
            return
        self.frozen_at = at
        is_frozen = at != ZERO_TIME
        log.info("node_frozen" if is_frozen else "node_thawed", frozen_at=at)
        self.pub.publish(NodeFrozen(node=self.node, is_frozen=is_frozen, frozen_at=at), self.lh)
        self.publish_status()

    def reload(self) -> None:
        """SIGHUP: re-read the configuration file, publish the node config (and status)."""
        try:
            new = configmod.load(self.paths, warnings=[])  # the supervisor logs them
        except ConfigError as exc:
            log.error("nmon_reload_failed", error=str(exc), kept="running configuration")
            return
        # The node name stays: every label already published names this node.
        new.node.name = self.node
        self.config = new
        self.pub.publish(NodeConfigUpdated(node=self.node, node_config=node_config(new)), self.lh)
        self.publish_status()

    def stop(self) -> None:
        """The stop publication."""
        self.pub.publish(NodeMonitorDeleted(node=self.node), self.lh, ready_timeout=1)


class NmonSubsystem(Subsystem):
    """nmon on the runtime: frozen flag events, the stats timer, SIGHUP."""

    topics = ("NodeFrozenFileUpdated", "NodeFrozenFileRemoved")
    state_kinds = ("NodeConfigUpdated", "NodeMonitorUpdated", "NodeOsPathsUpdated", "NodeStatusUpdated",
                   "NodeStatsUpdated")

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        assert rt.pub is not None
        self.nmon = Nmon(rt.config, rt.paths, rt.pub)
        self.dirty = False
        rt.every(rt.config.nmon.stats_interval, self.tick)

    def start(self) -> None:
        """Subscriptions are confirmed before the flag is read: a change is either read now
        or received as an event, never neither."""
        log.info("nmon_started", stats_interval=self.rt.config.nmon.stats_interval)
        self.nmon.start()

    def republish(self) -> None:
        self.nmon.last_status = None
        self.nmon.start()

    def on_message(self, msg: Message) -> None:
        self.dirty = True

    def on_idle(self) -> None:
        if self.dirty:
            self.dirty = False
            self.nmon.check_frozen()

    def tick(self) -> None:
        self.nmon.check_frozen()
        self.nmon.publish_stats()

    def on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self.nmon.reload()

    def stop(self) -> None:
        self.nmon.stop()


def run(rt: Runtime) -> int:
    """Monitor the node until SIGTERM/SIGINT; SIGHUP republishes the node config."""
    return rt.run(NmonSubsystem)
