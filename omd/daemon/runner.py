"""Child-process entry point: `python -m omd.daemon.runner NAME --root ROOT --parent PID`.

The supervisor hands the configuration it validated in `$OMD_CONFIG_JSON`, so every
subsystem runs with the same configuration even if the file changed meanwhile. The child
asks the kernel for SIGTERM when the supervisor dies, so no subsystem outlives it. It takes
the readiness pipe (omd.daemon.readiness) that the subsystem reports on.
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
from omd.daemon import readiness
from omd.config import Config
from omd.paths import Paths
from omd.daemon.registry import SUBSYSTEMS

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # the parent died before prctl
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    """Run one subsystem until it returns; the return value is the exit code."""
    parser = argparse.ArgumentParser(prog="omd.daemon.runner")
    parser.add_argument("name", choices=sorted(SUBSYSTEMS))
    parser.add_argument("--root", required=True)
    parser.add_argument("--parent", type=int, default=0)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    readiness.take_fd()
    paths = Paths.resolve(args.root)
    raw = os.environ.pop("OMD_CONFIG_JSON", "")
    config = msgspec.json.decode(raw, type=Config) if raw else configmod.load(paths)
    logs.configure(args.name, config.log.level, config.log.format)
    module = importlib.import_module(SUBSYSTEMS[args.name])
    return int(module.run(config, paths) or 0)


if __name__ == "__main__":
    sys.exit(main())
