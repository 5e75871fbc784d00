"""Objects: their paths, where their config files live, and what those files say.

An object is named by a path, as upstream: `svc1` (root namespace, kind svc), `vol/v1`
(root namespace, another kind), `ns1/svc/foo`. `root/svc/svc1` is accepted and normalized to
`svc1`. Names follow upstream's rules: lowercase DNS labels (letters, digits, dashes, not
starting or ending with a dash) joined by dots, at most 63 characters; namespaces are one
such label. Kinds are svc, vol, cfg, sec, usr.

Config files (INI) live under the root's `etc/omd`:

    etc/omd/<name>.conf                          root namespace, kind svc
    etc/omd/<kind>/<name>.conf                   root namespace, other kinds
    etc/omd/namespaces/<ns>/<kind>/<name>.conf   every other namespace

`parse_config` reads the keys the daemon uses (`[DEFAULT]` nodes, topology, flex_min,
flex_max, flex_target, orchestrate, priority, disable, app, env; resource sections like
`[fs#1]` with disable, monitor, standby, restart, restart_delay) and refuses bad values with
an `ObjectConfigError` that names the section and key; other keys are ignored.
`instance_config` turns a parsed config into upstream's instance.Config JSON.
"""

from __future__ import annotations

import configparser
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import durations
from .errors import OmdError
from .paths import Paths
from omd.model.wire import rfc3339_ns

OBJECT_KINDS = ("svc", "vol", "cfg", "sec", "usr")
# Kinds with an actor part in their instance config (resources, topology, ...).
ACTOR_KINDS = ("svc", "vol")
TOPOLOGIES = ("failover", "flex")
ORCHESTRATE = ("no", "ha", "start")

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_NS_RE = re.compile(rf"^{_LABEL}$")
_RID_RE = re.compile(r"^[a-z][a-z0-9_]*#[A-Za-z0-9_.-]+$")
_NODE_RE = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?$")


class ObjectPathError(OmdError, ValueError):
    """A string that is not a valid object path."""


class ObjectConfigError(OmdError, ValueError):
    """An object config file that cannot be used; the message names section and key."""


@dataclass(frozen=True, order=True)
class ObjectPath:
    """An object's identity: namespace (`root` for the root namespace), kind and name."""

    namespace: str
    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> "ObjectPath":
        """Parse `svc1`, `vol/v1` or `ns1/svc/foo`; raises `ObjectPathError` saying why."""
        parts = text.split("/")
        if len(parts) == 1:
            namespace, kind, name = "root", "svc", parts[0]
        elif len(parts) == 2:
            namespace, (kind, name) = "root", parts
        elif len(parts) == 3:
            namespace, kind, name = parts
        else:
            raise ObjectPathError(f"invalid object path {text!r}: use name, kind/name or namespace/kind/name")
        if kind not in OBJECT_KINDS:
            raise ObjectPathError(f"invalid object path {text!r}: kind {kind!r} is not one of {', '.join(OBJECT_KINDS)}")
        if not _NS_RE.match(namespace):
            raise ObjectPathError(f"invalid object path {text!r}: namespace {namespace!r} must be a "
                                  "lowercase DNS label (letters, digits, dashes)")
        if len(name) > 63 or not _NAME_RE.match(name):
            raise ObjectPathError(f"invalid object path {text!r}: name {name!r} must be lowercase letters, "
                                  "digits, dashes and dots, at most 63 characters, not starting or "
                                  "ending with a dash or dot")
        return cls(namespace, kind, name)

    def __str__(self) -> str:
        if self.namespace == "root":
            return self.name if self.kind == "svc" else f"{self.kind}/{self.name}"
        return f"{self.namespace}/{self.kind}/{self.name}"

    def labels(self, node: str | None = None) -> dict[str, str]:
        """Upstream's object labels: namespace and path (Lobj adds the node)."""
        labels = {"namespace": self.namespace, "path": str(self)}
        if node is not None:
            labels["node"] = node
        return labels

    def config_file(self, paths: Paths) -> Path:
        """Where this object's config file lives under `paths`' root."""
        if self.namespace == "root":
            if self.kind == "svc":
                return paths.etc / f"{self.name}.conf"
            return paths.etc / self.kind / f"{self.name}.conf"
        return paths.etc / "namespaces" / self.namespace / self.kind / f"{self.name}.conf"

    def var_dir(self, paths: Paths) -> Path:
        """This object's state directory (its frozen flag): var/lib/omd/namespaces/<ns>/<kind>/<name>."""
        return paths.lib / "namespaces" / self.namespace / self.kind / self.name


def path_of_config_file(paths: Paths, file: Path) -> ObjectPath | None:
    """The object a config file belongs to, or None when the file is not at an object's place."""
    try:
        rel = file.relative_to(paths.etc)
    except ValueError:
        return None
    parts = rel.parts
    if not parts or not parts[-1].endswith(".conf"):
        return None
    name = parts[-1][: -len(".conf")]
    if len(parts) == 1:
        text = name
    elif len(parts) == 2 and parts[0] in OBJECT_KINDS and parts[0] != "svc":
        text = f"{parts[0]}/{name}"
    elif len(parts) == 4 and parts[0] == "namespaces" and parts[1] != "root":
        text = f"{parts[1]}/{parts[2]}/{name}"
    else:
        return None
    try:
        return ObjectPath.parse(text)
    except ObjectPathError:
        return None


_ignored_logged: set[str] = set()  # config files named against the rules, logged once each


def _log_ignored(file: Path) -> None:
    if str(file) in _ignored_logged or len(_ignored_logged) > 10000:
        return
    _ignored_logged.add(str(file))
    import structlog

    structlog.get_logger().warning(
        "object_config_ignored", file=str(file),
        reason="not an object's config file: names are lowercase letters, digits, dashes and dots "
               "(etc/<name>.conf, etc/<kind>/<name>.conf, etc/namespaces/<ns>/<kind>/<name>.conf)")


def iter_config_files(paths: Paths) -> Iterator[tuple[ObjectPath, Path]]:
    """Every object config file under the root, with its object path (sorted, deterministic).

    A `.conf` file whose name or place makes no object path is skipped, with a warning once
    per file (a silently ignored object is worse than a refused one)."""
    etc = paths.etc
    candidates: list[Path] = []
    if etc.is_dir():
        candidates += etc.glob("*.conf")
        for kind in OBJECT_KINDS:
            if kind != "svc":
                candidates += (etc / kind).glob("*.conf")
        candidates += (etc / "namespaces").glob("*/*/*.conf")
    for file in sorted(candidates):
        path = path_of_config_file(paths, file)
        if path is None:
            _log_ignored(file)
        elif file.is_file():
            yield path, file


# ------------------------------------------------------------------------------------------
# Config contents


@dataclass
class ResourceConfig:
    """The keys of one resource section the daemon uses."""

    is_disabled: bool = False
    is_monitored: bool = False
    is_standby: bool = False
    restart: int = 0
    restart_delay: int = 500_000_000  # ns, upstream's default 500ms

    def as_dict(self) -> dict[str, Any]:
        """Upstream's instance config resource value."""
        return {"is_disabled": self.is_disabled, "is_monitored": self.is_monitored,
                "is_standby": self.is_standby, "restart": self.restart, "restart_delay": self.restart_delay}


@dataclass
class ObjectConfig:
    """A parsed object config file."""

    nodes: list[str]
    topology: str = "failover"
    flex_min: int = 1
    flex_max: int = 0
    flex_target: int = 1
    orchestrate: str = "no"
    priority: int = 50
    is_disabled: bool = False
    app: str = ""
    env: str = ""
    resources: dict[str, ResourceConfig] = field(default_factory=dict)


_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0", ""}


def _bool(section: str, key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ObjectConfigError(f"[{section}] {key}: {value!r} is not a boolean (true or false)")


def _int(section: str, key: str, value: str, minimum: int = 0) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise ObjectConfigError(f"[{section}] {key}: {value!r} is not an integer") from None
    if n < minimum:
        raise ObjectConfigError(f"[{section}] {key}: {n} is below {minimum}")
    return n


def _nodes(value: str, local_node: str) -> list[str]:
    nodes: list[str] = []
    for word in value.replace(",", " ").split():
        if word == "*":
            # Cluster membership is not known to this node yet (cluster config work): "*" is
            # every node of the cluster, which today is this node.
            word = local_node
        if not _NODE_RE.match(word):
            raise ObjectConfigError(f"[DEFAULT] nodes: {word!r} is not a node name")
        if word not in nodes:
            nodes.append(word)
    return nodes


def parse_config(text: str, local_node: str) -> ObjectConfig:
    """Parse an object config file's text; raises `ObjectConfigError` naming section and key."""
    # A plain section named DEFAULT: configparser's DEFAULT would leak its keys into every
    # resource section, which upstream does not do.
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none", strict=True)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        message = str(exc).replace("\n", " ")
        raise ObjectConfigError(f"invalid INI: {message}") from None
    d = parser["DEFAULT"] if parser.has_section("DEFAULT") else {}
    cfg = ObjectConfig(nodes=_nodes(d.get("nodes", local_node), local_node) or [local_node])
    cfg.topology = d.get("topology", "failover").strip()
    if cfg.topology not in TOPOLOGIES:
        raise ObjectConfigError(f"[DEFAULT] topology: {cfg.topology!r} is not one of {', '.join(TOPOLOGIES)}")
    cfg.orchestrate = d.get("orchestrate", "no").strip()
    if cfg.orchestrate not in ORCHESTRATE:
        raise ObjectConfigError(f"[DEFAULT] orchestrate: {cfg.orchestrate!r} is not one of {', '.join(ORCHESTRATE)}")
    cfg.priority = _int("DEFAULT", "priority", d.get("priority", "50"))
    cfg.is_disabled = _bool("DEFAULT", "disable", d.get("disable", "false"))
    cfg.app = d.get("app", "").strip()
    cfg.env = d.get("env", "").strip()
    if cfg.topology == "flex":
        cfg.flex_min = _int("DEFAULT", "flex_min", d.get("flex_min", "1"))
        cfg.flex_max = _int("DEFAULT", "flex_max", d.get("flex_max", str(len(cfg.nodes))))
        if cfg.flex_min > cfg.flex_max:
            raise ObjectConfigError(f"[DEFAULT] flex_min: {cfg.flex_min} is above flex_max {cfg.flex_max}")
        cfg.flex_target = _int("DEFAULT", "flex_target", d.get("flex_target", str(cfg.flex_min)))
        if not cfg.flex_min <= cfg.flex_target <= cfg.flex_max:
            raise ObjectConfigError(f"[DEFAULT] flex_target: {cfg.flex_target} is not between flex_min and flex_max")
    else:
        cfg.flex_min, cfg.flex_max, cfg.flex_target = 1, 1, 1
    for section in parser.sections():
        if section == "DEFAULT" or "#" not in section:
            continue  # env, subsets, ... carry nothing the daemon uses
        if not _RID_RE.match(section):
            raise ObjectConfigError(f"[{section}]: invalid resource id: use <driver group>#<name>, like fs#1")
        s = parser[section]
        res = ResourceConfig(
            is_disabled=_bool(section, "disable", s.get("disable", "false")),
            is_monitored=_bool(section, "monitor", s.get("monitor", "false")),
            is_standby=_bool(section, "standby", s.get("standby", "false")),
            restart=_int(section, "restart", s.get("restart", "0")),
        )
        if "restart_delay" in s:
            try:
                res.restart_delay = round(durations.parse(s["restart_delay"]) * 1e9)
            except ValueError as exc:
                raise ObjectConfigError(f"[{section}] restart_delay: {exc}") from None
        cfg.resources[section] = res
    return cfg


def checksum(data: bytes) -> str:
    """The `csum` of a config file's bytes (md5 hex, as upstream)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def instance_config(path: ObjectPath, cfg: ObjectConfig, csum: str, updated_at: str | None = None) -> dict[str, Any]:
    """Upstream's instance.Config JSON of a parsed config (actor fields for svc and vol only)."""
    out: dict[str, Any] = {"csum": csum, "priority": cfg.priority, "scope": list(cfg.nodes),
                           "updated_at": updated_at or rfc3339_ns()}
    if path.kind not in ACTOR_KINDS:
        return out
    out.update({
        "app": cfg.app,
        "children": [],
        "drp": [],
        "env": cfg.env,
        "is_disabled": cfg.is_disabled,
        "monitor_action": [],
        "orchestrate": cfg.orchestrate,
        "parents": [],
        "placement_policy": "nodes order",
        "pre_monitor_action": "",
        "resources": {rid: res.as_dict() for rid, res in sorted(cfg.resources.items())},
        "schedules": [],
        "stonith": False,
        "subsets": {},
        "topology": cfg.topology,
    })
    if cfg.topology == "flex":
        out["flex"] = {"min": cfg.flex_min, "max": cfg.flex_max, "target": cfg.flex_target}
    if path.kind == "vol":
        out.update({"pool": "", "size": 0})
    return out
