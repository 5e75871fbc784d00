"""Readiness of a subsystem process, reported to the supervisor through a pipe.

The supervisor passes the write end of a pipe in `$OMD_READY_FD`; `omd.daemon.runner` takes it
(`take_fd`) before the subsystem starts, and the subsystem calls `ready()` once it serves
(sockets bound, initial state published), which writes a `ready` line. Until
then the supervisor reports the subsystem as `starting`, and the daemon as `starting` until
every subsystem is ready (docs/architecture.md). Outside a supervised child both are no-ops.

After `ready()` the pipe stays open: `health(reason)` reports the subsystem degraded (it runs
but part of it does not, e.g. the gateway's TCP listener cannot bind) or healthy again
(`reason` ""), one line each (`ready`, `degraded <reason>`, `healthy`); a report made before
`ready()` goes out in the same write as the ready line. The supervisor shows the reason in
status.json and `omd status`.
"""

from __future__ import annotations

import os

READY_FD_ENV = "OMD_READY_FD"
_fd: int | None = None


def take_fd() -> None:
    """Take the pipe named by `$OMD_READY_FD` (and hide it from the processes we start)."""
    global _fd
    value = os.environ.pop(READY_FD_ENV, "")
    if not value.isdigit():
        return
    fd = int(value)
    try:
        os.set_inheritable(fd, False)
    except OSError:  # not an open descriptor: nobody listens
        return
    _fd = fd


_ready = False
_health = ""  # a degraded reason reported before ready(): sent with the ready line


def ready() -> None:
    """Tell the supervisor this subsystem is ready (the first call only), and degraded in the
    same write when `health` said so before: the supervisor reads both at once, so it never
    counts the subsystem healthy in between (and a daemon `started` that is not)."""
    global _ready
    if not _ready:
        _ready = True
        _write("ready\n" + _health_line(_health) if _health else "ready")


def health(reason: str) -> None:
    """Report this subsystem degraded because of `reason`, or healthy (""); before `ready()`,
    the report goes with the ready line."""
    global _health
    if _ready:
        _write(_health_line(reason))
    else:
        _health = reason


def _health_line(reason: str) -> str:
    return f"degraded {' '.join(reason.split())[:3900]}" if reason else "healthy"


def _write(line: str) -> None:
    global _fd
    if _fd is None:
        return
    try:
        os.write(_fd, line.encode()[:4000] + b"\n")
    except OSError:  # the supervisor is gone: nothing to tell
        os.close(_fd)
        _fd = None
