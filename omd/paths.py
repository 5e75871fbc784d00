"""Where omd keeps its files: the root directory and the fixed layout under it.

The root is `--root`, else `$OMD_ROOT`, else `/` for root, else a per-user directory
(`$XDG_STATE_HOME/omd`, default `~/.local/state/omd`) so a non-root user can run a daemon
with no setup at all. Under the root:

    etc/omd/omd.toml      configuration
    var/run/omd/          bus-in.sock, bus-out.sock, api.sock, omd.pid, status.json
    var/lib/omd/          state (cluster secret, event id counter, ...)
    var/log/omd/          logs written by omd itself (journald gets stdout)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107


def default_root() -> Path:
    """The root used when neither `--root` nor `$OMD_ROOT` is given."""
    env = os.environ.get("OMD_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "omd"


@dataclass(frozen=True)
class Paths:
    """The files of one omd root."""

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> "Paths":
        """Paths for `root`, or for the default root when it is None."""
        return cls(Path(root).absolute() if root else default_root().absolute())

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "omd"

    @property
    def run(self) -> Path:
        return self.root / "var" / "run" / "omd"

    @property
    def lib(self) -> Path:
        return self.root / "var" / "lib" / "omd"

    @property
    def log(self) -> Path:
        return self.root / "var" / "log" / "omd"

    @property
    def config_file(self) -> Path:
        return self.etc / "omd.toml"

    @property
    def pid_file(self) -> Path:
        return self.run / "omd.pid"

    @property
    def status_file(self) -> Path:
        return self.run / "status.json"

    @property
    def bus_in(self) -> Path:
        return self.run / "bus-in.sock"

    @property
    def bus_out(self) -> Path:
        return self.run / "bus-out.sock"

    @property
    def api_socket(self) -> Path:
        return self.run / "api.sock"

    @property
    def secret_file(self) -> Path:
        return self.lib / "cluster.secret"

    def endpoint(self, sock: Path) -> str:
        """The ZeroMQ ipc endpoint of a socket file; refuses paths the kernel cannot bind."""
        path = str(sock)
        if len(path.encode()) > MAX_UNIX_SOCKET_PATH:
            from .errors import ConfigError

            raise ConfigError(
                f"socket path {path} is {len(path.encode())} bytes, over the "
                f"{MAX_UNIX_SOCKET_PATH}-byte limit of unix sockets: choose a shorter root"
            )
        return f"ipc://{path}"

    def make_dirs(self) -> None:
        """Create the layout's directories (run and lib private to the daemon's user)."""
        self.etc.mkdir(parents=True, exist_ok=True)
        self.log.mkdir(parents=True, exist_ok=True)
        for private in (self.run, self.lib):
            private.mkdir(parents=True, exist_ok=True, mode=0o750)
