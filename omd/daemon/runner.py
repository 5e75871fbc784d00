"""Child-process entry point: `python -m omd.daemon.runner ID --root ROOT --parent PID --config-fd N`.

`ID` is a subsystem instance (`nmon`, `hb#1.tx`, see omd.daemon.registry). The supervisor
hands the configuration it validated through an anonymous memory file (`--config-fd`), so
every subsystem runs with the same configuration even if the file changed meanwhile, with no
size limit, and without secrets in the environment (`/proc/<pid>/environ` is readable more
widely than a descriptor). The child asks the kernel for SIGTERM when the supervisor dies, so
no subsystem outlives it, takes the readiness pipe (omd.daemon.readiness), and runs the
subsystem module's `run(rt)` on a `Runtime`.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import signal
import sys

import msgspec

from omd import config as configmod, logs
from omd.config import Config
from omd.daemon import readiness
from omd.daemon.registry import UnknownSubsystemError, parse_instance
from omd.daemon.runtime import Runtime
from omd.paths import Paths

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # the parent died before prctl
        sys.exit(0)


def read_config_fd(fd: int) -> Config:
    """Decode the configuration the supervisor wrote into descriptor `fd` (then closed)."""
    with os.fdopen(fd, "rb") as f:
        return msgspec.json.decode(f.read(), type=Config)


def main(argv: list[str] | None = None) -> int:
    """Run one subsystem instance until it returns; the return value is the exit code."""
    parser = argparse.ArgumentParser(prog="omd.daemon.runner")
    parser.add_argument("instance")
    parser.add_argument("--root", required=True)
    parser.add_argument("--parent", type=int, default=0)
    parser.add_argument("--config-fd", type=int, default=-1)
    args = parser.parse_args(argv)
    try:
        instance = parse_instance(args.instance)
    except UnknownSubsystemError as exc:
        parser.error(str(exc))
    _die_with_parent(args.parent)
    readiness.take_fd()
    paths = Paths.resolve(args.root)
    config = read_config_fd(args.config_fd) if args.config_fd >= 0 else configmod.load(paths)
    logs.configure(instance.id, config.log.level, config.log.format)
    module = importlib.import_module(instance.kind.module)
    rt = Runtime(instance.id, config, paths, owned_sockets=instance.kind.sockets)
    return int(module.run(rt) or 0)


if __name__ == "__main__":
    sys.exit(main())
