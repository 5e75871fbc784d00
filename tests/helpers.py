"""Shared test helpers: poll with a deadline, run real daemons under a temporary root."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from omd.paths import Paths

REPO = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> Any:
    """Poll `predicate` until it returns a truthy value (returned) or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def api_client(daemon: "Daemon", timeout: float = 10) -> Any:
    """An httpx client on the daemon's api.sock (the daemon's own uid: the root role)."""
    import httpx

    return httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.paths.api_socket)), base_url="http://omd",
                        timeout=timeout)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready_subscriber(ctx: Any, daemon: "Daemon", topics: list[bytes]) -> Any:
    """A Subscriber on the daemon's bus whose subscriptions are confirmed in force (probe handshake)."""
    from omd.sockets import Publisher, Subscriber

    sub = Subscriber(ctx, daemon.endpoint("out"), topics=topics)
    probe = sub.probe()
    helper = Publisher(ctx, daemon.endpoint("in"), "test", "probe")
    assert helper.wait_subscription(probe, 10), "subscription never reached the bus"
    helper.close(linger_ms=0)
    return sub


def short_root() -> Path:
    """A fresh root directory with a short path (unix socket paths are limited to 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="omd-", dir="/tmp"))


def pids_under_root(root: Path) -> list[int]:
    """Pids of live processes whose command line names `root` (our daemon and its children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if str(root).encode() in cmdline and ") Z " not in stat:
            found.append(int(entry))
    return found


class Daemon:
    """A real `omd` daemon process under its own root, started by `start()`."""

    def __init__(self, root: Path, config: str = "", env: dict[str, str] | None = None) -> None:
        self.root = root
        self.paths = Paths.resolve(root)
        self.paths.etc.mkdir(parents=True, exist_ok=True)
        base = "[daemon]\nwatchdog_interval = 0.5\n"
        if config:
            self.paths.config_file.write_text(config)
        elif not self.paths.config_file.exists():
            self.paths.config_file.write_text(base)
        self.env = {**os.environ, **(env or {})}
        self.env.pop("OMD_ROOT", None)
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = root / "daemon.log"

    def start(self, wait: bool = True) -> "Daemon":
        """Start `python -m omd run`; with `wait`, return once status.json says started."""
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omd", "--root", str(self.root), "run"],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, text=True, cwd=REPO,
        )
        if wait:
            # 60 s: a start is ~3 s idle, but a 2-core machine running other suites can take
            # well over 20 s to import and hand-shake nine processes.
            try:
                wait_for(lambda: self.status().get("status") == "started" or self.proc.poll() is not None,
                         timeout=60, what="daemon start")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; status: {self.status()}; log tail:\n{self.log()[-3000:]}") from None
            assert self.proc.poll() is None, f"daemon exited: {self.log()}"
        return self

    def status(self) -> dict[str, Any]:
        """The daemon's status.json, or {} when absent."""
        try:
            return json.loads(self.paths.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def subsystem_pid(self, name: str) -> int:
        """The pid of a running subsystem process."""
        return self.status()["subsystems"][name]["pid"]

    def endpoint(self, which: str) -> str:
        """The ipc endpoint of bus-in or bus-out."""
        return self.paths.endpoint(self.paths.bus_in if which == "in" else self.paths.bus_out)

    def log(self) -> str:
        """Everything the daemon wrote so far."""
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; SIGKILL everything under the root if it does not exit."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids_under_root(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()
        return self.proc.returncode


def cleanup_root(root: Path) -> None:
    """Kill anything left under `root` and remove it."""
    for pid in pids_under_root(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(root, ignore_errors=True)
