"""Frozen flags: the files that say a node or an object instance is frozen, and since when.

A flag is an empty file; its modification time is the `frozen_at` of the node or instance
(RFC 3339 with nanoseconds, UTC). No file means not frozen (`ZERO_TIME`). Layout under the
root (upstream keeps the same files under its own var directory):

    var/lib/omd/node/frozen                                 the node
    var/lib/omd/namespaces/<ns>/<kind>/<name>/frozen        an instance (ns "root" included)

Freezing what is already frozen keeps the first `frozen_at`. The discover subsystem watches
these files and publishes NodeFrozenFile* / InstanceFrozenFile* events; nmon and istat read
them directly, so they never depend on having seen an event.
"""

from __future__ import annotations

import os
from pathlib import Path

from omd.model.events import ZERO_TIME
from .objects import ObjectPath
from .paths import Paths
from omd.model.wire import rfc3339_ns


def node_flag(paths: Paths) -> Path:
    """The node frozen flag file."""
    return paths.lib / "node" / "frozen"


def instance_flag(paths: Paths, path: ObjectPath | str) -> Path:
    """The frozen flag file of the local instance of object `path`."""
    if isinstance(path, str):
        path = ObjectPath.parse(path)
    return path.var_dir(paths) / "frozen"


def frozen_at(flag: Path) -> str:
    """The flag's mtime as RFC 3339 ns UTC, or ZERO_TIME when there is no flag."""
    try:
        return rfc3339_ns(flag.stat().st_mtime_ns)
    except FileNotFoundError:
        return ZERO_TIME


def _freeze(flag: Path) -> str:
    flag.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(flag, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    return frozen_at(flag)


def _unfreeze(flag: Path) -> bool:
    try:
        flag.unlink()
    except FileNotFoundError:
        return False
    return True


def freeze_node(paths: Paths) -> str:
    """Freeze the node; returns its frozen_at (unchanged if it was already frozen)."""
    return _freeze(node_flag(paths))


def unfreeze_node(paths: Paths) -> bool:
    """Thaw the node; True when it was frozen."""
    return _unfreeze(node_flag(paths))


def node_frozen_at(paths: Paths) -> str:
    """When the node was frozen, or ZERO_TIME."""
    return frozen_at(node_flag(paths))


def freeze_instance(paths: Paths, path: ObjectPath | str) -> str:
    """Freeze the local instance of `path`; returns its frozen_at."""
    return _freeze(instance_flag(paths, path))


def unfreeze_instance(paths: Paths, path: ObjectPath | str) -> bool:
    """Thaw the local instance of `path`; True when it was frozen."""
    return _unfreeze(instance_flag(paths, path))


def instance_frozen_at(paths: Paths, path: ObjectPath | str) -> str:
    """When the local instance of `path` was frozen, or ZERO_TIME."""
    return frozen_at(instance_flag(paths, path))


def path_of_instance_flag(paths: Paths, flag: Path) -> ObjectPath | None:
    """The object whose instance flag `flag` is, or None when it is not at a flag's place."""
    try:
        parts = flag.relative_to(paths.lib / "namespaces").parts
    except ValueError:
        return None
    if len(parts) != 4 or parts[3] != "frozen":
        return None
    try:
        return ObjectPath.parse("/".join(parts[:3]))
    except ValueError:
        return None


def iter_instance_flags(paths: Paths) -> dict[ObjectPath, str]:
    """Every instance frozen flag under the root: object path -> frozen_at."""
    out: dict[ObjectPath, str] = {}
    for flag in sorted((paths.lib / "namespaces").glob("*/*/*/frozen")):
        path = path_of_instance_flag(paths, flag)
        if path is not None:
            at = frozen_at(flag)
            if at != ZERO_TIME:
                out[path] = at
    return out
