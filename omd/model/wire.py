"""The bus wire format: the contract with third-party subscribers (docs/wire-format.md).

A bus message is three frames:

1. topic: ``Kind`` NUL, then each label as ``key=value`` NUL, keys sorted;
2. meta: compact JSON ``{"at": RFC 3339 ns UTC, "origin": node, "pub": publisher id, "seq": n}``;
3. data: compact JSON of the event, ``labels`` first, upstream's field names.

`encode` builds the frames of an event; `decode` checks received frames and raises
`FrameError` with a stable cause token, never anything else, whatever the bytes.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from omd.errors import FrameError, UnknownKindError, ValidationError
from omd.model.events import KINDS, Event, decode_data

SEP = b"\0"


class Meta(msgspec.Struct, forbid_unknown_fields=False):
    """The meta frame."""

    at: str
    origin: str
    pub: str
    seq: int


_meta_encoder = msgspec.json.Encoder()
_meta_decoder = msgspec.json.Decoder(Meta)
_data_encoder = msgspec.json.Encoder()


_second_cache: list = [-1, ""]


def rfc3339_ns(ns: int | None = None) -> str:
    """Format a Unix time in nanoseconds as RFC 3339 with nanoseconds, UTC (`...Z`)."""
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    cache = _second_cache
    if cache[0] != secs:  # strftime costs more than the rest: once per second
        cache[0], cache[1] = secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{cache[1]}.{frac:09d}Z"


def topic_prefix(kind: str) -> bytes:
    """The subscription prefix that receives exactly the events of `kind`."""
    return kind.encode() + SEP


def encode_topic(kind: str, labels: dict[str, str] | None) -> bytes:
    """Build the topic frame: ``Kind\\0k=v\\0...`` with keys sorted."""
    if not labels:
        return kind.encode() + SEP
    return "\0".join([kind, *[f"{key}={labels[key]}" for key in sorted(labels)], ""]).encode()


def decode_topic(topic: bytes) -> tuple[str, dict[str, str]]:
    """Split a topic frame into its kind and labels; raises `FrameError` (cause ``topic``)."""
    if not topic.endswith(SEP):
        raise FrameError("topic", "topic frame does not end with NUL")
    try:
        kind, *fields = topic[:-1].decode().split("\0")
    except UnicodeDecodeError:
        raise FrameError("topic", "topic frame is not UTF-8") from None
    labels = {}
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep or not key:
            raise FrameError("topic", f"label {field.encode()!r} is not key=value")
        labels[key] = value
    return kind, labels


def encode_meta(origin: str, pub: str, seq: int, at: str | None = None) -> bytes:
    """Build the meta frame."""
    return _meta_encoder.encode(Meta(at=at or rfc3339_ns(), origin=origin, pub=pub, seq=seq))


def encode_data(event: Event) -> bytes:
    """The data frame of a typed event."""
    return _data_encoder.encode(event)


class Message(msgspec.Struct):
    """A received bus message, checked: kind, labels, meta, and the raw data bytes."""

    kind: str
    labels: dict[str, str]
    meta: Meta
    data: bytes

    def event(self) -> Event:
        """Decode the data into the kind's Struct (raises `ValidationError`)."""
        return decode_data(self.kind, self.data)

    def data_obj(self) -> dict[str, Any]:
        """The data as a plain JSON object."""
        return msgspec.json.decode(self.data)


def decode(frames: list[bytes], validate: bool = False) -> Message:
    """Check received frames; raise `FrameError` naming the cause when they are malformed.

    With `validate`, the data is also decoded against the kind's schema (cause ``data``);
    otherwise it is only required to be a JSON object (cause ``data`` too).
    """
    if len(frames) != 3:
        raise FrameError("frame_count", f"expected 3 frames, got {len(frames)}")
    topic, meta_frame, data = frames
    kind, labels = decode_topic(bytes(topic))
    if kind not in KINDS:
        raise FrameError("unknown_kind", str(UnknownKindError(kind, tuple(KINDS))))
    try:
        meta = _meta_decoder.decode(meta_frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError("meta", str(exc)) from None
    data = bytes(data)
    if validate:
        try:
            decode_data(kind, data)
        except ValidationError as exc:
            raise FrameError("data", str(exc)) from None
    elif not data.startswith(b"{"):
        raise FrameError("data", "data frame is not a JSON object")
    return Message(kind=kind, labels=labels, meta=meta, data=data)
