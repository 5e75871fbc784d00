"""Renderers of `om node events -o ...`, upstream's formats.

- json, jsonline: one compact `{"kind","id","at","data"}` per line, the data bytes as the
  server sent them (no decode), for jq.
- human: `<at> [<id>] <kind>` then the indented data JSON; the kind coloured on a terminal.
- flat: `---` then the envelope flattened as upstream does (`data.instance_status.avail =
  "up"`), sorted.
- yaml: one YAML document per event (`---`), keys sorted as Go's YAML encoders do.
- diff: per object key (kind and the path/node labels, upstream's Key()), the leaves of the
  data that changed since the last event of that key: `+` lines the first time, `-`/`+` after;
  a Deleted kind forgets the key of its Updated kind.
- tab=HEADER:PATH,...: a header line, then one row per event; PATH is a dotted path into the
  envelope (`.kind`, `.data.node`, `.data.instance_status.avail`, `[0]` for list items).
- template=TEXT is `--template TEXT` (handled by the events command).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

import msgspec

from .client import Envelope

_encode = msgspec.json.Encoder().encode


def _valid_json(data: bytes) -> bool:
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return True

_COLORS = {"Updated": "\x1b[32m", "Deleted": "\x1b[31m", "Error": "\x1b[31m", "Failed": "\x1b[31m",
           "Stale": "\x1b[33m", "Success": "\x1b[32m"}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"


def json_line(env: Envelope) -> bytes:
    """The jsonline form of an envelope: the data bytes as they came when they are JSON (the
    server's always are), else as a JSON string; kind and at encoded (they may hold quotes
    when read from --input)."""
    data = env.data if _valid_json(env.data) else _encode(env.data.decode("utf-8", "replace"))
    return b'{"kind":%s,"id":%s,"at":%s,"data":%s}\n' % (
        _encode(env.kind), b"null" if env.id is None else str(int(env.id)).encode(), _encode(env.at), data)


def go_time(at: str) -> str:
    """An RFC 3339 time as Go's Time.String() prints it (`2026-11-26 22:01:05.123456789 +0000 UTC`)."""
    if not at:
        return "0001-01-01 00:00:00 +0000 UTC"
    main, _, frac = at.rstrip("Z").partition(".")
    try:
        dt = datetime.fromisoformat(main)
    except ValueError:
        return at
    frac = frac.rstrip("0")
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


def human(env: Envelope, color: bool) -> bytes:
    """The human form: a header line and the indented data."""
    kind = env.kind
    if color:
        tint = next((c for suffix, c in _COLORS.items() if kind.endswith(suffix)), "")
        kind = f"{_BOLD}{tint}{kind}{_RESET}"
    try:
        body = json.dumps(json.loads(env.data), indent=2)
    except ValueError:
        body = env.data.decode(errors="replace")
    eid = "-" if env.id is None else str(env.id)
    indented = "\n".join("  " + line for line in body.splitlines())
    return f"{go_time(env.at)} [{eid}] {kind}\n{indented}\n".encode()


def _quote_key(key: str) -> str:
    if any(c in key for c in ".#$/") or key[:1].isdigit():
        return f'"{key}"'
    return key


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return format(value, "f").rstrip("0").rstrip(".")


def flatten(obj: Any, prefix: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    """Upstream's flatten: dotted keys (quoted when they hold `. # $ /` or start with a digit),
    `[i]` for arrays, leaves only; strings in double quotes, numbers without exponent."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for key, value in obj.items():
            flatten(value, f"{prefix}.{_quote_key(key)}" if prefix else _quote_key(key), out)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            flatten(value, f"{prefix}[{i}]", out)
    elif obj is None:
        pass
    elif isinstance(obj, str):
        out[prefix] = f'"{obj}"'
    elif isinstance(obj, (int, float)):
        out[prefix] = _number(obj)
    return out


def flat(env: Envelope) -> bytes:
    """The flat form."""
    try:
        data = json.loads(env.data)
    except ValueError:
        data = None
    lines = flatten({"kind": env.kind, "id": env.id, "at": env.at, "data": data})
    return ("---\n" + "".join(f"{k} = {lines[k]}\n" for k in sorted(lines))).encode()


def _data(env: Envelope) -> Any:
    try:
        return json.loads(env.data)
    except ValueError:
        return env.data.decode("utf-8", "replace")


def yaml_doc(env: Envelope) -> bytes:
    """The yaml form: one document per event."""
    import yaml

    doc = {"at": env.at, "data": _data(env), "id": env.id, "kind": env.kind}
    return yaml.safe_dump(doc, explicit_start=True, sort_keys=True, allow_unicode=True,
                          default_flow_style=False).encode()


_KEY_LABELS = ("path", "node")


class Diff:
    """The diff form's memory: the flattened data last seen per key."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}

    @staticmethod
    def key(kind: str, labels: dict[str, Any]) -> str:
        return ",".join([kind] + [f"{k}={labels[k]}" for k in _KEY_LABELS if k in labels])

    def __call__(self, env: Envelope) -> bytes:
        data = _data(env)
        labels = data.get("labels") if isinstance(data, dict) else None
        labels = labels if isinstance(labels, dict) else {}
        if env.kind.endswith("Deleted"):
            gone = self.key(env.kind[: -len("Deleted")] + "Updated", labels)
            if self.seen.pop(gone, None) is not None:
                return f"{gone}\n- (deleted)\n".encode()
            return b""
        key = self.key(env.kind, labels)
        body = {k: v for k, v in data.items() if k != "labels"} if isinstance(data, dict) else data
        now = flatten(body)
        before = self.seen.get(key)
        self.seen[key] = now
        lines = []
        for leaf in sorted(set(now) | set(before or {})):
            old, new = (before or {}).get(leaf), now.get(leaf)
            if old == new:
                continue
            if old is not None:
                lines.append(f"- {leaf} = {old}")
            if new is not None:
                lines.append(f"+ {leaf} = {new}")
        return (f"{key}\n" + "".join(line + "\n" for line in lines)).encode() if lines else b""


def _walk(obj: Any, path: str) -> Any:
    import re

    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path):
        if name:
            obj = obj.get(name) if isinstance(obj, dict) else None
        else:
            obj = obj[int(index)] if isinstance(obj, list) and int(index) < len(obj) else None
    return obj


class Table:
    """The tab=HEADER:PATH,... form: columns as wide as their widest value so far."""

    def __init__(self, spec: str) -> None:
        self.columns = parse_tab(spec)
        self.widths = [len(h) for h, _ in self.columns]
        self.header_done = False

    def _row(self, cells: list[str]) -> str:
        self.widths = [max(w, len(c)) for w, c in zip(self.widths, cells)]
        return "  ".join(c.ljust(w) for c, w in zip(cells, self.widths)).rstrip() + "\n"

    def __call__(self, env: Envelope) -> bytes:
        doc = {"kind": env.kind, "id": env.id, "at": env.at, "data": _data(env)}
        cells = []
        for _, path in self.columns:
            value = _walk(doc, path)
            cells.append("<none>" if value is None else value if isinstance(value, str)
                         else json.dumps(value, separators=(",", ":")))
        out = ""
        if not self.header_done:  # the header as wide as the first row too
            self.header_done = True
            self.widths = [max(w, len(c)) for w, c in zip(self.widths, cells)]
            out = self._row([h for h, _ in self.columns])
        return (out + self._row(cells)).encode()


def parse_tab(spec: str) -> list[tuple[str, str]]:
    """`HEADER:PATH,...` as (header, path) pairs; ValueError naming the bad column."""
    columns = []
    for item in spec.split(","):
        header, sep, path = item.partition(":")
        if not sep or not header or not path.startswith("."):
            raise ValueError(f"tab column {item!r} is not HEADER:.path (for example KIND:.kind,NODE:.data.node)")
        columns.append((header, path))
    return columns


FORMATS = ("auto", "human", "json", "jsonline", "flat", "yaml", "diff", "tab=HEADER:PATH,...", "template=TEXT")


def renderer(fmt: str, color: bool) -> Callable[[Envelope], bytes]:
    """The render function of an output format (auto already resolved; template= is not one)."""
    if fmt in ("json", "jsonline"):
        return json_line
    if fmt == "flat":
        return flat
    if fmt == "yaml":
        return yaml_doc
    if fmt == "diff":
        return Diff()
    if fmt.startswith("tab="):
        return Table(fmt[4:])
    return lambda env: human(env, color)
