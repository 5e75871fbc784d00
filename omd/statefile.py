"""Atomic writes of a subsystem's state files, and what happens when the disk refuses them.

`write_atomic` writes a temporary file beside the target, fsyncs it and renames it over the
target, so a reader (or a restart) sees the old content or the new one, never half. When the
disk is full, read-only or not writable (ENOSPC, EROFS, EACCES, ...), the temporary is
removed (a failed write must not eat the space that is left) and the error is returned, not
raised: the subsystem keeps running on what it holds in memory.

`StateFile` adds the policy the subsystems share (istat, discover; the journal has its own
for its log): a failed save is logged, reported degraded through the readiness pipe
(omd.daemon.readiness), kept dirty and retried with a growing delay (`retry`, called from the
subsystem's loop) until a write succeeds, which reports healthy again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import structlog

from omd.daemon import readiness

log = structlog.get_logger()

RETRY_FIRST = 1.0  # seconds before the first retry of a failed write
RETRY_MAX = 30.0


def write_atomic(path: Path, data: bytes) -> OSError | None:
    """Write `data` to `path` through `path`.tmp + fsync + rename; the error, or None."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(tmp)
        try:
            tmp.unlink()
        except OSError:
            pass
        return exc
    return None


def describe(exc: OSError) -> str:
    """A short reason for a failed write: `ENOSPC state.json: No space left on device`."""
    import errno

    code = errno.errorcode.get(exc.errno or 0, "error")
    name = Path(exc.filename).name if exc.filename else ""
    return f"{code} {name}: {exc.strerror or exc}".replace("  ", " ")


class StateFile:
    """A state file saved atomically, with degraded reporting and retries (module docstring).

    `encode` returns the file's bytes at the time of the write (the retry writes the current
    state, not the one that failed). `name` names the file in the degraded reason.
    """

    def __init__(self, path: Path, encode: Callable[[], bytes], name: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.encode = encode
        self.name = name or path.name
        self.clock = clock
        self.error: str | None = None  # the reason of the last failed write, None when durable
        self.failures = 0
        self._delay = RETRY_FIRST
        self._next_try = 0.0

    @property
    def dirty(self) -> bool:
        """The file is behind the state in memory (a write failed)."""
        return self.error is not None

    def save(self) -> bool:
        """Write the current state now; True when it is on disk."""
        exc = write_atomic(self.path, self.encode())
        if exc is None:
            if self.error is not None:
                log.info("state_file_recovered", file=str(self.path), failures=self.failures)
                readiness.health("")
            self.error = None
            self._delay = RETRY_FIRST
            return True
        self.failures += 1
        reason = f"{self.name} not durable: {describe(exc)}"
        if reason != self.error:
            log.error("state_file_write_failed", file=str(self.path), error=str(exc))
            readiness.health(reason)
        self.error = reason
        self._next_try = self.clock() + self._delay
        self._delay = min(self._delay * 2, RETRY_MAX)
        return False

    def retry(self) -> None:
        """Save again when a write failed and its delay passed (call it from the loop)."""
        if self.error is not None and self.clock() >= self._next_try:
            self.save()
