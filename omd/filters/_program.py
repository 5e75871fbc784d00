"""The compact program of a filter set: what the C matcher loads (native/matcher.c, `load`).

Little-endian; counts and lengths are u32:

    program  = "OMF1" nfilters filter*
    filter   = nkinds (len bytes)* nlabels label* ndata data*
    label    = u8 op (0 =, 1 !=, 2 = glob, 3 != glob) (len key) (len value)
    data     = u8 op (0 =, 1 !=, 2 <, 3 <=, 4 >, 5 >=) u8 type value nsegs segment*
    value    = type 0 string: len bytes | 1 number: f64 | 2 true | 3 false | 4 null
    segment  = u8 0 (len key) | u8 1 u32 index

Strings are UTF-8 (lone surrogates from ``\\uD800`` escapes as WTF-8, like the data scanner).
"""

from __future__ import annotations

import struct

from ._parse import FilterSpec, Value

MAGIC = b"OMF1"
DATA_OP_CODES = {"=": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}


def utf8(text: str) -> bytes:
    """UTF-8 bytes of `text`, lone surrogates included (WTF-8)."""
    return text.encode("utf-8", "surrogatepass")


def _blob(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def _value(value: Value) -> bytes:
    if value is True:
        return b"\x02"
    if value is False:
        return b"\x03"
    if value is None:
        return b"\x04"
    if isinstance(value, str):
        return b"\x00" + _blob(utf8(value))
    return b"\x01" + struct.pack("<d", value)


def encode_program(spec: FilterSpec) -> bytes:
    """The program of `spec`."""
    out = [MAGIC, struct.pack("<I", len(spec.filters))]
    for f in spec.filters:
        out.append(struct.pack("<I", len(f.kinds)))
        out.extend(_blob(k.encode()) for k in f.kinds)
        out.append(struct.pack("<I", len(f.labels)))
        for a in f.labels:
            out.append(bytes([int(a.negate) + 2 * int(a.glob)]))
            out.append(_blob(utf8(a.key)) + _blob(utf8(a.value)))
        out.append(struct.pack("<I", len(f.data)))
        for d in f.data:
            out.append(bytes([DATA_OP_CODES[d.op]]) + _value(d.value))
            out.append(struct.pack("<I", len(d.path)))
            for seg in d.path:
                if isinstance(seg, int):
                    out.append(b"\x01" + struct.pack("<I", seg))
                else:
                    out.append(b"\x00" + _blob(utf8(seg)))
    return b"".join(out)
