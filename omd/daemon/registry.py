"""The table of subsystem processes, and the Daemon*Updated kind that reports each one.

`SUBSYSTEMS` maps a name to the module whose `run(config, paths) -> int` the process runs.
The supervisor starts `bus` first, then `[daemon] subsystems` in order (`DEFAULT` when that
list is empty), and stops them in reverse order.
"""

from __future__ import annotations

from omd.model import events

SUBSYSTEMS: dict[str, str] = {
    "bus": "omd.subsystems.bus",
    "journal": "omd.subsystems.journal",
    "gateway": "omd.subsystems.gateway",
    "nmon": "omd.subsystems.nmon",
    "discover": "omd.subsystems.discover",
    "istat": "omd.subsystems.istat",
    "omon": "omd.subsystems.omon",
    "scheduler": "omd.subsystems.scheduler",
}

# Started when `[daemon] subsystems` is left empty.
DEFAULT: tuple[str, ...] = ("journal", "gateway", "nmon", "discover", "istat", "omon", "scheduler")

# name -> (event type, data field) published by the supervisor on each state change.
STATE_KINDS: dict[str, tuple[type[events.Event], str]] = {
    "gateway": (events.DaemonListenerUpdated, "listener"),
}
