"""Renderers of `om node events -o ...`: json (jsonline), human, flat.

- json: one compact `{"kind","id","at","data"}` per line, the data bytes as the server sent
  them (no decode), for jq.
- human: `<at> [<id>] <kind>` then the indented data JSON; the kind coloured on a terminal.
- flat: `---` then the envelope flattened as upstream does (`data.instance_status.avail =
  "up"`), sorted.
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


def renderer(fmt: str, color: bool) -> Callable[[Envelope], bytes]:
    """The render function of an output format (auto already resolved)."""
    if fmt == "json":
        return json_line
    if fmt == "flat":
        return flat
    return lambda env: human(env, color)
