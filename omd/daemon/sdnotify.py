"""The systemd notify protocol (sd_notify(3)): READY=1, WATCHDOG=1, STOPPING=1, STATUS=...

A no-op when `$NOTIFY_SOCKET` is unset, so the daemon runs the same outside systemd. A send
waits at most `SEND_TIMEOUT` for room in the manager's queue (Linux queues only
`net.unix.max_dgram_qlen` datagrams, 10 by default): a manager that does not read never
blocks the supervisor.
"""

from __future__ import annotations

import os
import socket

SEND_TIMEOUT = 1.0


class Notifier:
    """Sends datagrams to `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace)."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(SEND_TIMEOUT)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens."""
        return self._sock is not None

    def watchdog_interval(self) -> float | None:
        """Half of `$WATCHDOG_USEC` in seconds when the watchdog is on for this pid, else None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2_000_000
        except ValueError:
            return None

    def notify(self, *assignments: str) -> None:
        """Send `KEY=value` lines; errors are ignored as sd_notify does."""
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(assignments).encode(), self._address)
        except OSError:
            pass

    def close(self) -> None:
        """Close the datagram socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
