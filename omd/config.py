"""The daemon configuration: a typed msgspec tree decoded from TOML.

Every key has an embedded default, so the daemon runs with no file at all; `conf/omd.toml`
documents each key with its default (a test keeps the two in step). Unknown keys and wrong
types are refused with a `ConfigError` that names the file and the key, and so is every file or
name the configuration refers to (TLS certificate and key, socket group) that the daemon could
not use: `--check-config`, startup and SIGHUP reload all refuse such a file.
"""

from __future__ import annotations

import grp
import os
import secrets
import re
import socket
import ssl
import stat
import tomllib
from pathlib import Path

import msgspec

from .errors import ConfigError
from .netopts import TcpOptions
from .paths import Paths
from omd.daemon.registry import SUBSYSTEMS


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of config sections: unknown keys are errors, typos never pass silently."""


class NodeSection(Section):
    """[node]: this node's identity."""

    name: str = ""  # empty: the hostname
    labels: dict[str, str] = {}


class BusSection(Section):
    """[bus]: the event bus proxy."""

    # Extra XPUB endpoint for third-party subscribers, e.g. "tcp://127.0.0.1:1216"; "" is off.
    tcp_listen: str = ""
    # Group given read/write access to the bus socket files; "" keeps them owner-only (0600).
    socket_group: str = ""
    # Largest event accepted, in bytes (topic + meta + data frames); larger ones are refused
    # and counted by the journal, and a publisher sending a larger frame is disconnected.
    max_event_size: int = 1 << 20
    # CURVE on the TCP endpoint: the server's secret key certificate (a zmq.auth
    # `.key_secret` file) and the Z85 public keys of the clients it accepts. Required for a
    # non-loopback tcp_listen: the bus has no other authentication.
    curve_secret_key_file: str = ""
    curve_client_keys: list[str] = msgspec.field(default_factory=list)
    # Keepalive and reconnect settings of the TCP listener's connections.
    tcp: TcpOptions = msgspec.field(default_factory=TcpOptions)


class DaemonSection(Section):
    """[daemon]: the supervisor."""

    subsystems: list[str] = []
    stop_grace: float = 10.0
    restart_backoff_initial: float = 0.5
    restart_backoff_max: float = 30.0
    # A subsystem that ran this long before dying restarts with the initial backoff again.
    restart_backoff_reset: float = 30.0
    watchdog_interval: float = 5.0
    # Seconds the subsystems get to report ready before the daemon says started without them.
    start_timeout: float = 60.0
    # Fork the subsystems from a preloaded interpreter (omd.daemon.zygote): a fraction of the
    # CPU and memory of one fresh interpreter each. false: a fresh interpreter each.
    zygote: bool = True


class TokenEntry(Section):
    """One bearer token of the TCP listener: who it is, its role, its namespaces."""

    name: str
    token: str
    role: str = "guest"  # root, admin, operator or guest
    # Namespaces the role applies to; ["*"] is every namespace. Ignored for root.
    namespaces: list[str] = msgspec.field(default_factory=lambda: ["*"])


class GatewaySection(Section):
    """[gateway]: the HTTP API (unix socket always; TCP/TLS optional)."""

    # "host:port" of the TCP listener; "" is off. Bearer tokens are required over TCP.
    tcp_listen: str = ""
    # Absolute paths of the PEM certificate (chain) and its unencrypted private key; both or
    # neither, checked at load.
    tls_cert: str = ""
    tls_key: str = ""
    tokens: list[TokenEntry] = []
    # Recent events kept for Last-Event-ID resumes.
    ring_size: int = 10000
    # ... and at most this many bytes of them (the oldest go first): large events cannot
    # take the journal's memory with them.
    ring_max_bytes: int = 128 << 20
    # Seconds between SSE comment lines on idle streams.
    keepalive_interval: float = 15.0
    # Events queued per stream before the client is cut off with a gap event.
    stream_queue_size: int = 1000
    # TCP connection limits (omd.subsystems.gateway.listener): open connections on the
    # listener (never more than half the descriptor limit) and per peer IP address.
    max_connections: int = 512
    max_connections_per_peer: int = 64
    # Seconds a new TCP connection has to complete TLS and send its first request's headers.
    header_timeout: float = 10.0
    # Seconds a keep-alive connection may stay without a complete request.
    idle_timeout: float = 75.0
    # POST /api/instance/status quotas: an instance status is kept by istat and journaled, so
    # an operator could otherwise grow them at will. Above either: 413.
    instance_status_max_size: int = 65536  # bytes of the instance_status JSON
    instance_status_max_encap: int = 64  # entries of instance_status.encap


class LogSection(Section):
    """[log]: structured logging to stdout (journald under systemd)."""

    level: str = "info"
    # "auto": JSON when stdout is not a terminal, console rendering otherwise.
    format: str = "auto"


class NmonSection(Section):
    """[nmon]: the node monitor (NodeStatsUpdated, NodeStatusUpdated, ...)."""

    # Seconds between NodeStatsUpdated events (and re-reads of the node frozen flag).
    stats_interval: float = 5.0

    def __post_init__(self) -> None:
        if self.stats_interval <= 0:
            raise ValueError("stats_interval must be > 0")


class DiscoverSection(Section):
    """[discover]: the watcher of object config files and frozen flags."""

    # "auto" (inotify, polling when inotify is unavailable), "inotify" or "polling".
    watcher: str = "auto"
    # Seconds between scans of the polling watcher.
    poll_interval: float = 1.0
    # Seconds of quiet after a change before the files are read (rapid writes coalesce).
    debounce: float = 0.2

    def __post_init__(self) -> None:
        if self.watcher not in ("auto", "inotify", "polling"):
            raise ValueError(f"watcher {self.watcher!r} is not one of auto, inotify, polling")
        if self.poll_interval <= 0 or self.debounce < 0:
            raise ValueError("poll_interval must be > 0 and debounce >= 0")


class SchedulerJob(Section):
    """One scheduled job: `command` (argv, no shell) runs every `interval` seconds."""

    name: str
    command: list[str]
    interval: float
    # Seconds after which a run is killed and reported failed; 0: no limit.
    timeout: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or not self.command or self.interval <= 0 or self.timeout < 0:
            raise ValueError("a job needs a name, a non-empty command, interval > 0 and timeout >= 0")


class SchedulerSection(Section):
    """[scheduler]: jobs run as subprocesses on their schedule."""

    # Runs allowed at the same time; a due job waits for a free slot.
    max_running: int = 4
    jobs: list[SchedulerJob] = []

    def __post_init__(self) -> None:
        if self.max_running < 1:
            raise ValueError("max_running must be >= 1")
        names = [job.name for job in self.jobs]
        if len(names) != len(set(names)):
            raise ValueError("job names must be unique")


class Config(Section):
    """The whole configuration; `paths` and `source` are set by `load`, not by the file."""

    node: NodeSection = msgspec.field(default_factory=NodeSection)
    bus: BusSection = msgspec.field(default_factory=BusSection)
    daemon: DaemonSection = msgspec.field(default_factory=DaemonSection)
    gateway: GatewaySection = msgspec.field(default_factory=GatewaySection)
    log: LogSection = msgspec.field(default_factory=LogSection)
    nmon: NmonSection = msgspec.field(default_factory=NmonSection)
    discover: DiscoverSection = msgspec.field(default_factory=DiscoverSection)
    scheduler: SchedulerSection = msgspec.field(default_factory=SchedulerSection)

    @property
    def nodename(self) -> str:
        """The node name: `[node] name`, else the short hostname."""
        return self.node.name or socket.gethostname().split(".")[0]


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "json", "console")


# A node name is a DNS label (RFC 1123): it is a label value of every event, a peer's name on
# the heartbeat links and a host name.
_NODE_NAME = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?$")


def _check(config: Config, source: str) -> None:
    if config.node.name and not _NODE_NAME.match(config.node.name):
        raise ConfigError(f"{source}: node.name: {config.node.name!r} is not a node name: 1 to 63 letters, "
                          "digits and dashes, not starting or ending with a dash")
    if config.log.level not in LOG_LEVELS:
        raise ConfigError(f"{source}: log.level: {config.log.level!r} is not one of {', '.join(LOG_LEVELS)}")
    if config.log.format not in LOG_FORMATS:
        raise ConfigError(f"{source}: log.format: {config.log.format!r} is not one of {', '.join(LOG_FORMATS)}")
    for name in ("stop_grace", "restart_backoff_initial", "restart_backoff_max", "watchdog_interval",
                 "start_timeout"):
        if getattr(config.daemon, name) <= 0:
            raise ConfigError(f"{source}: daemon.{name}: must be > 0")
    for name in config.daemon.subsystems:
        if name not in SUBSYSTEMS or name == "bus":
            choices = ", ".join(n for n in SUBSYSTEMS if n != "bus") or "none yet"

            raise ConfigError(f"{source}: daemon.subsystems: unknown subsystem {name!r} (known: {choices})")
    gw = config.gateway
    if gw.tcp_listen:
        host, sep, port = gw.tcp_listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{source}: gateway.tcp_listen: {gw.tcp_listen!r} is not host:port")
    if bool(gw.tls_cert) != bool(gw.tls_key):
        raise ConfigError(f"{source}: gateway.tls_cert and gateway.tls_key go together")
    if gw.tls_cert:
        _check_tls(source, gw.tls_cert, gw.tls_key)
    for i, token in enumerate(gw.tokens):
        if token.role not in ("guest", "operator", "admin", "root"):
            raise ConfigError(f"{source}: gateway.tokens[{i}].role: {token.role!r} is not one of guest, operator, admin, root")
        if len(token.token) < 8:
            raise ConfigError(f"{source}: gateway.tokens[{i}].token: must be at least 8 characters")
    if gw.ring_max_bytes < 1 << 20:
        raise ConfigError(f"{source}: gateway: ring_max_bytes must be at least 1048576 (1 MiB)")
    if gw.ring_size < 1 or gw.stream_queue_size < 1 or gw.keepalive_interval <= 0:
        raise ConfigError(f"{source}: gateway: ring_size and stream_queue_size must be >= 1, keepalive_interval > 0")
    if gw.max_connections < 1 or gw.max_connections_per_peer < 1:
        raise ConfigError(f"{source}: gateway: max_connections and max_connections_per_peer must be >= 1")
    if gw.instance_status_max_size < 1024 or gw.instance_status_max_encap < 0:
        raise ConfigError(f"{source}: gateway: instance_status_max_size must be >= 1024, "
                          "instance_status_max_encap >= 0")
    if gw.header_timeout <= 0 or gw.idle_timeout <= 0:
        raise ConfigError(f"{source}: gateway: header_timeout and idle_timeout must be > 0")
    if config.bus.max_event_size < 4096:
        raise ConfigError(f"{source}: bus.max_event_size: must be >= 4096")
    if config.bus.tcp_listen and not config.bus.tcp_listen.startswith("tcp://"):
        raise ConfigError(f"{source}: bus.tcp_listen: {config.bus.tcp_listen!r} is not a tcp:// endpoint")
    _check_bus_curve(config, source)
    if config.bus.socket_group:
        try:
            grp.getgrnam(config.bus.socket_group)
        except KeyError:
            raise ConfigError(f"{source}: bus.socket_group: no group named {config.bus.socket_group!r}") from None


def _loopback(tcp_listen: str) -> bool:
    """Whether a tcp:// endpoint binds a loopback address only (not `*`, not a name but localhost)."""
    import ipaddress

    host = tcp_listen.removeprefix("tcp://").rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_bus_curve(config: Config, source: str) -> None:
    """[bus] CURVE keys: loadable, and present for a non-loopback tcp_listen."""
    import zmq.auth
    import zmq.utils.z85

    bus = config.bus
    if bus.curve_secret_key_file:
        _readable_file(source, "bus.curve_secret_key_file", bus.curve_secret_key_file)
        try:
            public, secret = zmq.auth.load_certificate(bus.curve_secret_key_file)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{source}: bus.curve_secret_key_file: {exc}") from None
        if not secret:
            raise ConfigError(f"{source}: bus.curve_secret_key_file: {bus.curve_secret_key_file!r} holds no "
                              "secret key (give the .key_secret file)")
        if not bus.curve_client_keys:
            raise ConfigError(f"{source}: bus.curve_client_keys: empty; CURVE needs the public keys of the "
                              "clients to accept")
    for i, key in enumerate(bus.curve_client_keys):
        try:
            ok = len(key) == 40 and len(zmq.utils.z85.decode(key)) == 32
        except (ValueError, TypeError, KeyError):
            ok = False
        if not ok:
            raise ConfigError(f"{source}: bus.curve_client_keys[{i}]: {key!r} is not a Z85 public key (40 characters)")
    if bus.curve_client_keys and not bus.curve_secret_key_file:
        raise ConfigError(f"{source}: bus.curve_client_keys needs bus.curve_secret_key_file")
    if bus.tcp_listen and not _loopback(bus.tcp_listen) and not bus.curve_secret_key_file:
        raise ConfigError(f"{source}: bus.tcp_listen: {bus.tcp_listen!r} is not a loopback address and the bus "
                          "has no authentication: set bus.curve_secret_key_file and bus.curve_client_keys "
                          "(docs/wire-format.md), or listen on 127.0.0.1")


# The files and names the configuration refers to are checked here, at load, rather than
# where they are used: a subsystem that finds its certificate missing can only die and be
# restarted in a loop, while `--check-config`, startup and SIGHUP reload can refuse the file
# with the key named.

class _EncryptedKey(Exception):
    """Raised by the password callback: the daemon has no way to be given a passphrase."""


def _no_password() -> bytes:
    raise _EncryptedKey


def _readable_file(source: str, key: str, path: str) -> None:
    """Refuse a path that is relative, missing, not a regular file or unreadable, naming `key`."""
    # Relative paths would resolve against whichever directory each process runs in
    # (`--check-config` in a shell, the daemon under systemd in /): refuse the ambiguity.
    if not os.path.isabs(path):
        raise ConfigError(f"{source}: {key}: {path!r} is not an absolute path")
    try:
        # stat before open: opening a FIFO for reading would block the load.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{source}: {key}: {path}: not a regular file")
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise ConfigError(f"{source}: {key}: {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: {key}: {path}: cannot read: {exc.strerror or exc}") from None


def _check_tls(source: str, cert: str, key: str) -> None:
    """Refuse a TLS certificate and key the gateway could not load, saying which is wrong."""
    _readable_file(source, "gateway.tls_cert", cert)
    _readable_file(source, "gateway.tls_key", key)
    # Parsed on its own first: load_cert_chain says only "PEM lib" for either file.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=cert)
    except (ssl.SSLError, ValueError):
        raise ConfigError(f"{source}: gateway.tls_cert: {cert}: no PEM certificate in the file") from None
    try:
        # The same call the gateway makes; the password callback keeps OpenSSL from
        # prompting on a terminal for an encrypted key.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=_no_password)
    except _EncryptedKey:
        raise ConfigError(f"{source}: gateway.tls_key: {key}: the private key is encrypted "
                          "(the daemon cannot be given a passphrase)") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"{source}: gateway.tls_key: {key}: does not match the certificate "
                              f"of gateway.tls_cert ({cert})") from None
        raise ConfigError(f"{source}: gateway.tls_key: {key}: not a PEM private key") from None


def _key_of(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(dotted key, message) from a msgspec validation error."""
    text = str(exc)
    msg, _, where = text.partition(" - at `")
    key = where.rstrip("`").removeprefix("$").lstrip(".")
    if msg.startswith("Object contains unknown field `"):
        field = msg.split("`")[1]
        return (f"{key}.{field}" if key else field), "unknown key"
    return key, msg


def parse(text: str, source: str = "<config>") -> Config:
    """Decode TOML text into a checked `Config`; raises `ConfigError` naming `source` and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        key, msg = _key_of(exc)
        raise ConfigError(f"{source}: {key}: {msg}") from None
    _check(config, source)
    return config


def load(paths: Paths, warnings: list[str] | None = None) -> Config:
    """Read `etc/omd/omd.toml` under the root, or the embedded defaults when it does not exist.

    The file, its directories and the jobs' executables must be safe from other users
    (omd.filemodes): else a `ConfigError` names the file and its mode. Warnings (secrets that
    others can read) go to `warnings` when given, else to the log.
    """
    from . import filemodes

    path = paths.config_file
    try:
        text = path.read_text()
    except FileNotFoundError:
        config = parse("", source=f"{path} (embedded defaults)")
        exists = False
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    else:
        config = parse(text, source=str(path))
        exists = True
    found = filemodes.check_config(config, path, exists)
    if warnings is not None:
        warnings.extend(found)
    else:
        import structlog

        for text in found:
            structlog.get_logger().warning("config_file_mode", warning=text)
    return config


def ensure_secret(paths: Paths) -> str:
    """The cluster secret, generated on first use and stored with mode 0600."""
    from .filemodes import check_secret_file

    path: Path = paths.secret_file
    try:
        check_secret_file(path)
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
