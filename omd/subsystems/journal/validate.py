"""What the journal accepts from the bus: every event is checked here before it gets an id.

The journal is the one place every event passes before it reaches an SSE client, the state
files or the cluster dataset, so this is where the bus's content is held to the wire format
(docs/wire-format.md, "What the journal refuses"). `check` returns the cause of a refusal,
a stable token, or None:

- `too_large`: topic + meta + data above `[bus] max_event_size` bytes;
- `meta`: `at` is not an RFC 3339 UTC time (anything that could end an SSE field is refused);
- `data`: not valid JSON for the kind's schema, or JSON with a raw CR or LF (compact JSON has
  none, and the data is framed as one SSE `data:` line);
- `labels`: the data's `labels` differ from the topic's, the `path` label and the data's
  `path` name different objects, a path is invalid, or the event names an object without
  the `namespace` label of its path (access is decided on the topic's labels:
  omd.model.scope).

Unknown kinds are refused earlier, by the bus Subscriber (`unknown_kind`): an event of a kind
this version does not know has no schema to hold it to. Unknown *fields* are tolerated.

`check_row` holds a persisted state row to the same rules when the state files are loaded.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from omd.errors import FrameError, UnknownKindError, ValidationError
from omd.model.events import KINDS, decode_data
from omd.model.scope import ScopeError, derive
from omd.model.wire import decode_topic

DEFAULT_MAX_EVENT_SIZE = 1 << 20
# RFC 3339 as the wire format writes it (UTC, optional fraction); nothing else can be framed.
_AT = re.compile(rb"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)\Z")
_decode = msgspec.json.Decoder().decode


def check_data(kind: str, labels: dict[str, str], data: bytes) -> str | None:
    """The cause for refusing the data of an event of `kind` with topic `labels`, or None.

    Kinds that reach the compacted log (state, Deleted, ForgetPeer) are decoded against their
    schema, so that the dataset cannot be poisoned; the others only as JSON objects (the
    typed decoding costs three times as much, and their data is served as it is).
    """
    return check_data_decoded(kind, labels, data)[0]


def check_data_decoded(kind: str, labels: dict[str, str], data: bytes) -> tuple[str | None, Any]:
    """`check_data`, and the typed event it decoded for the kinds that reach the compacted
    log (None for the others): the journal folds it into its state without decoding again."""
    if b"\n" in data or b"\r" in data:
        return "data", None
    info = KINDS.get(kind)
    event = None
    try:
        if info is not None and (info.is_state or info.removes or kind == "ForgetPeer"):
            event = decode_data(kind, data)
            data_labels, path = event.labels, getattr(event, "path", None)
        else:
            obj = _decode(data)
            if not isinstance(obj, dict):
                return "data", None
            # `path` is an object path only for the kinds that declare one (a Log record's
            # `path` may be a file)
            data_labels = obj.get("labels")
            path = obj.get("path") if info is not None and "path" in info.type.__struct_fields__ else None
    except (ValidationError, UnknownKindError, msgspec.DecodeError):
        return "data", None
    if (data_labels or {}) != labels:
        return "labels", None
    if path or "path" in labels or "namespace" in labels:  # most events name no object
        try:
            scope = derive(labels, {"path": path} if isinstance(path, str) else None)
        except ScopeError:
            return "labels", None
        if scope.path is not None and "namespace" not in labels:
            return "labels", None  # readers are filtered on the topic's namespace: it must say it
    return None, event


def check(kind: str, labels: dict[str, str], topic: bytes, meta: bytes, at: str, data: bytes,
          max_size: int) -> str | None:
    """The cause for refusing a bus event (module docstring), or None when it is accepted."""
    return check_decoded(kind, labels, topic, meta, at, data, max_size)[0]


def check_decoded(kind: str, labels: dict[str, str], topic: bytes, meta: bytes, at: str, data: bytes,
                  max_size: int) -> tuple[str | None, Any]:
    """`check`, and the typed event it decoded (see `check_data_decoded`)."""
    if len(topic) + len(meta) + len(data) > max_size:
        return "too_large", None
    if not _AT.match(at.encode(errors="replace")):
        return "meta", None
    return check_data_decoded(kind, labels, data)


def check_row(row: Any) -> str | None:
    """The cause for refusing a persisted state row [id, kind, topic, meta, data], or None."""
    if not (isinstance(row, list) and len(row) == 5 and type(row[0]) is int and 0 < row[0] < 1 << 64
            and all(isinstance(v, str) for v in row[1:])):
        return "shape"
    _, kind, topic, meta, data = row
    if kind not in KINDS:
        return "unknown_kind"
    try:
        topic_kind, labels = decode_topic(topic.encode())
    except FrameError:
        return "topic"
    if topic_kind != kind:
        return "topic"
    try:
        at = _decode(meta).get("at", "")
    except (msgspec.DecodeError, AttributeError):
        return "meta"
    if not isinstance(at, str) or not _AT.match(at.encode(errors="replace")):
        return "meta"
    return check_data(kind, labels, data.encode())
