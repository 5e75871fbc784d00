"""The registry of subsystems: what each kind of subsystem is, and which instances a config runs.

A *kind* of subsystem (`SubsystemKind`) names the module whose `run(rt)` the process runs,
the configuration it reads (`sections`: a reload restarts an instance only when one of them
changed), the socket files it binds under `var/run/omd` (removed by the supervisor when the
process dies, so a dead subsystem never leaves a socket that accepts nothing), and the
Daemon*Updated kind that reports its state, if any.

An *instance* (`Instance`) is one process: `nmon`, or `hb#1.tx` (kind `hb.tx`, argument `1`,
upstream's ids). `instances(config)` lists them in start order: `bus` first, then the
`[daemon] subsystems` (`DEFAULT` when that list is empty); the supervisor stops them in reverse
order. Every instance id is accepted wherever a subsystem is named: `omd status`, DaemonCtl,
`POST /api/daemon/subsystem/{id}/action/restart`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from omd.model import events

if TYPE_CHECKING:
    from omd.config import Config

# Every subsystem reads these (node name and labels, log level and format).
COMMON_SECTIONS = ("node", "log")


@dataclass(frozen=True)
class SubsystemKind:
    """One kind of subsystem process (see the module docstring)."""

    name: str
    module: str
    sections: tuple[str, ...] = ()
    sockets: tuple[str, ...] = ()
    state_kind: tuple[type[events.Event], str] | None = None
    doc: str = ""

    def signature(self, config: "Config") -> bytes:
        """The part of `config` this kind reads; instances restart on reload when it changes.

        A section is `name` or a dotted `name.key` for one key of it.
        """
        values: dict[str, Any] = {}
        for section in (*COMMON_SECTIONS, *self.sections):
            value: Any = config
            for part in section.split("."):
                value = getattr(value, part)
            values[section] = msgspec.to_builtins(value)
        return msgspec.json.encode(values)


# The exit code of a subsystem that refuses to start until an operator acts (EX_CONFIG): the
# supervisor marks it `failed` instead of restarting it in a loop.
EXIT_REFUSED = 78


KINDS: dict[str, SubsystemKind] = {
    kind.name: kind for kind in (
        SubsystemKind("bus", "omd.subsystems.bus", ("bus",), ("bus-in.sock", "bus-out.sock"),
                      doc="the XSUB/XPUB proxy every event goes through"),
        SubsystemKind("journal", "omd.subsystems.journal", ("gateway.ring_size", "gateway.ring_max_bytes", "bus.max_event_size"),
                      ("journal.sock", "journal-out.sock"),
                      doc="event ids, the ring of recent events and the compacted log"),
        SubsystemKind("gateway", "omd.subsystems.gateway", ("gateway",), ("api.sock",),
                      (events.DaemonListenerUpdated, "listener"),
                      doc="the HTTP API: SSE streams, the cluster dataset, actions"),
        SubsystemKind("nmon", "omd.subsystems.nmon", ("nmon",),
                      doc="node monitor: node status, stats, config and monitor"),
        SubsystemKind("discover", "omd.subsystems.discover", ("discover",),
                      doc="object config files and frozen flags"),
        SubsystemKind("istat", "omd.subsystems.istat", (), doc="instance statuses"),
        SubsystemKind("omon", "omd.subsystems.omon", (), doc="object and cluster status"),
        SubsystemKind("scheduler", "omd.subsystems.scheduler", ("scheduler",), doc="node jobs"),
    )
}

# Kept for callers that only need names: subsystem name -> module.
SUBSYSTEMS: dict[str, str] = {name: kind.module for name, kind in KINDS.items()}

# Started when `[daemon] subsystems` is left empty. The journal starts (and is ready) before
# the sources, so that their first events are journaled (see the supervisor).
DEFAULT: tuple[str, ...] = ("journal", "gateway", "nmon", "discover", "istat", "omon", "scheduler")

# name -> (event type, data field) published by the supervisor on each state change.
STATE_KINDS: dict[str, tuple[type[events.Event], str]] = {
    name: kind.state_kind for name, kind in KINDS.items() if kind.state_kind is not None
}


@dataclass(frozen=True)
class Instance:
    """One subsystem process: its id (`nmon`, `hb#1.tx`), its kind and its argument."""

    id: str
    kind: SubsystemKind
    arg: str = ""


class UnknownSubsystemError(ValueError):
    """An instance id that names no kind of subsystem."""


def parse_instance(instance_id: str) -> Instance:
    """The `Instance` named by `instance_id` (`nmon`, `hb#1.tx`); `UnknownSubsystemError`."""
    name, arg = instance_id, ""
    if "#" in instance_id:  # upstream's heartbeat ids: hb#<link>.<tx|rx>
        prefix, _, rest = instance_id.partition("#")
        arg, _, role = rest.partition(".")
        name = f"{prefix}.{role}"
    kind = KINDS.get(name)
    if kind is None or (arg and not arg.isdigit()):
        raise UnknownSubsystemError(f"unknown subsystem {instance_id!r} (known: {', '.join(KINDS)})")
    return Instance(instance_id, kind, arg)


def instances(config: "Config") -> list[Instance]:
    """The instances `config` runs, in start order (the bus first)."""
    names = ["bus", *(config.daemon.subsystems or DEFAULT)]
    return [parse_instance(name) for name in names]


__all__ = ["KINDS", "SUBSYSTEMS", "DEFAULT", "STATE_KINDS", "SubsystemKind", "Instance",
           "parse_instance", "instances", "UnknownSubsystemError"]
