"""The pure-Python twin of the C matcher's primitives: topic frame, glob and JSON path scanner.

Each function ports its namesake in native/matcher.c statement by statement, so the two
implementations agree on every input, malformed ones included. The Python matcher uses the
scanner only when msgspec rejects a data frame (on valid JSON the scan and a full decode agree).
"""

from __future__ import annotations

import re

MAX_DEPTH = 10000

# Normalized values: ("s", bytes) string, ("n", float) number, ("t",), ("f",), ("z",) null.
Scalar = tuple
TRUE, FALSE, NULL = ("t",), ("f",), ("z",)

_STR_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {ord('"'): b'"', ord("\\"): b"\\", ord("/"): b"/", ord("b"): b"\b",
                   ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}
_DIGITS = frozenset(b"0123456789")


# ---------------------------------------------------------------------------------- topic


def topic_kind(topic: bytes) -> bytes:
    """The kind: the bytes before the first NUL (all of them when there is none)."""
    z = topic.find(b"\0")
    return topic if z < 0 else topic[:z]


def topic_labels(topic: bytes) -> dict[bytes, bytes]:
    """The labels of a topic frame; fields without ``=`` are ignored, the first key wins."""
    z = topic.find(b"\0")
    labels: dict[bytes, bytes] = {}
    if z < 0:
        return labels
    for field in topic[z + 1 :].split(b"\0"):
        key, sep, value = field.partition(b"=")
        if sep and key not in labels:
            labels[key] = value
    return labels


# ---------------------------------------------------------------------------------- glob


def _utf8_char(s: bytes, i: int, n: int) -> tuple[int, int]:
    b = s[i]
    need = 4 if 0xF0 <= b <= 0xF4 else 3 if 0xE0 <= b <= 0xEF else 2 if 0xC2 <= b <= 0xDF else 1
    if need > 1:
        if i + need > n:
            need = 1
        else:
            for k in range(1, need):
                if s[i + k] & 0xC0 != 0x80:
                    need = 1
                    break
    if need == 1:
        return b, 1
    cp = b & (0x7F >> need)
    for k in range(1, need):
        cp = cp << 6 | (s[i + k] & 0x3F)
    return cp, need


def _glob_class(pat: bytes, pn: int, pi: int, c: int) -> tuple[int, int]:
    j, neg, matched, first = pi + 1, False, False, True
    if j < pn and pat[j] == 0x21:  # !
        neg = True
        j += 1
    while j < pn:
        if pat[j] == 0x5D and not first:  # ]
            break
        first = False
        lo, ln = _utf8_char(pat, j, pn)
        j += ln
        if j + 1 < pn and pat[j] == 0x2D and pat[j + 1] != 0x5D:  # - not before ]
            hi, hn = _utf8_char(pat, j + 1, pn)
            j += 1 + hn
            if lo <= c <= hi:
                matched = True
        elif c == lo:
            matched = True
    if j >= pn:
        return -1, 0
    return int(matched != neg), j + 1


def glob(pat: bytes, s: bytes) -> bool:
    """fnmatch-style ``* ? [...]`` over UTF-8 characters (an invalid byte is a character)."""
    pn, sn = len(pat), len(s)
    pi = si = star_pi = star_si = 0
    star = False
    while si < sn:
        if pi < pn:
            c = pat[pi]
            if c == 0x2A:  # *
                star, star_pi, star_si = True, pi, si
                pi += 1
                continue
            if c == 0x3F:  # ?
                pi += 1
                si += _utf8_char(s, si, sn)[1]
                continue
            if c == 0x5B:  # [
                sc, sl = _utf8_char(s, si, sn)
                m, pend = _glob_class(pat, pn, pi, sc)
                if m == 1:
                    pi, si = pend, si + sl
                    continue
                if m == -1 and s[si] == 0x5B:
                    pi, si = pi + 1, si + 1
                    continue
            elif c == s[si]:
                pi, si = pi + 1, si + 1
                continue
        if not star:
            return False
        star_si += _utf8_char(s, star_si, sn)[1]
        si = star_si
        pi = star_pi + 1
    while pi < pn and pat[pi] == 0x2A:
        pi += 1
    return pi == pn


# ---------------------------------------------------------------------------------- JSON


def _ws(d: bytes, i: int, n: int) -> int:
    while i < n and d[i] in b" \n\r\t":
        i += 1
    return i


def _skip_str(d: bytes, i: int, n: int) -> tuple[int, bool] | None:
    """d[i] is the opening quote: (index past the closing quote, has escapes) or None."""
    i += 1
    esc = False
    while True:
        i = _STR_RUN.match(d, i).end()
        if i >= n:
            return None
        c = d[i]
        if c == 0x22:
            return i + 1, esc
        if c != 0x5C or n - i < 2:
            return None
        esc = True
        c = d[i + 1]
        if c == 0x75:  # u
            if n - i < 6 or not _HEX.issuperset(d[i + 2 : i + 6]):
                return None
            i += 6
        elif c in _SIMPLE_ESCAPES:
            i += 2
        else:
            return None


def _skip_number(d: bytes, i: int, n: int) -> int | None:
    if i < n and d[i] == 0x2D:
        i += 1
    if i >= n:
        return None
    if d[i] == 0x30:
        i += 1
    elif 0x31 <= d[i] <= 0x39:
        while i < n and d[i] in _DIGITS:
            i += 1
    else:
        return None
    if i < n and d[i] == 0x2E:
        i += 1
        if i >= n or d[i] not in _DIGITS:
            return None
        while i < n and d[i] in _DIGITS:
            i += 1
    if i < n and d[i] in b"eE":
        i += 1
        if i < n and d[i] in b"+-":
            i += 1
        if i >= n or d[i] not in _DIGITS:
            return None
        while i < n and d[i] in _DIGITS:
            i += 1
    return i


def _skip_literal(d: bytes, i: int, lit: bytes) -> int | None:
    return i + len(lit) if d.startswith(lit, i) else None


def _skip_value(d: bytes, i: int, n: int) -> int | None:
    """d[i] starts a value: the index past it, or None (malformed, truncated, too deep)."""
    stack: list[bool] = []  # True: in an array
    state = "value"
    while True:
        if state == "value":
            if i >= n:
                return None
            c = d[i]
            if c == 0x22:
                r = _skip_str(d, i, n)
                if r is None:
                    return None
                i = r[0]
            elif c == 0x7B or c == 0x5B:  # { [
                i = _ws(d, i + 1, n)
                if i < n and d[i] == c + 2:  # } ]
                    i += 1
                else:
                    if len(stack) >= MAX_DEPTH:
                        return None
                    stack.append(c == 0x5B)
                    state = "value" if c == 0x5B else "key"
                    continue
            else:
                r = (_skip_literal(d, i, b"true") if c == 0x74 else
                     _skip_literal(d, i, b"false") if c == 0x66 else
                     _skip_literal(d, i, b"null") if c == 0x6E else _skip_number(d, i, n))
                if r is None:
                    return None
                i = r
            state = "after"
        if state == "after":
            if not stack:
                return i
            i = _ws(d, i, n)
            if i >= n:
                return None
            c = d[i]
            if stack[-1]:
                if c == 0x2C:
                    i = _ws(d, i + 1, n)
                    state = "value"
                    continue
                if c == 0x5D:
                    i += 1
                    stack.pop()
                    continue
                return None
            if c == 0x2C:
                i = _ws(d, i + 1, n)
                state = "key"
                continue
            if c == 0x7D:
                i += 1
                stack.pop()
                continue
            return None
        # key
        if i >= n or d[i] != 0x22:
            return None
        r = _skip_str(d, i, n)
        if r is None:
            return None
        i = _ws(d, r[0], n)
        if i >= n or d[i] != 0x3A:
            return None
        i = _ws(d, i + 1, n)
        state = "value"


def unescape(body: bytes) -> bytes:
    """Decoded bytes of a validated JSON string body: surrogate pairs combine, a lone
    surrogate is WTF-8 (as the C decoder)."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != 0x5C:
            j = body.find(b"\\", i)
            j = n if j < 0 else j
            out += body[i:j]
            i = j
            continue
        e = body[i + 1]
        i += 2
        if e != 0x75:
            out += _SIMPLE_ESCAPES[e]
            continue
        cp = int(body[i : i + 4], 16)
        i += 4
        if 0xD800 <= cp <= 0xDBFF and n - i >= 6 and body[i] == 0x5C and body[i + 1] == 0x75:
            lo = int(body[i + 2 : i + 6], 16)
            if 0xDC00 <= lo <= 0xDFFF:
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                i += 6
        out += chr(cp).encode("utf-8", "surrogatepass")
    return bytes(out)


def find_path(d: bytes, path: tuple) -> Scalar | None:
    """The scalar at `path` (keys as UTF-8 bytes, indexes as ints), or None when missing,
    a container, or malformed on the way."""
    n = len(d)
    i = _ws(d, 0, n)
    closer = 0
    for seg in path:
        if isinstance(seg, bytes):
            if i >= n or d[i] != 0x7B:
                return None
            i = _ws(d, i + 1, n)
            while True:
                if i >= n or d[i] != 0x22:
                    return None
                k = i + 1
                r = _skip_str(d, i, n)
                if r is None:
                    return None
                i, esc = r
                body = d[k : i - 1]
                hit = (unescape(body) if esc else body) == seg
                i = _ws(d, i, n)
                if i >= n or d[i] != 0x3A:
                    return None
                i = _ws(d, i + 1, n)
                if hit:
                    break
                i = _skip_value(d, i, n)
                if i is None:
                    return None
                i = _ws(d, i, n)
                if i >= n or d[i] != 0x2C:
                    return None
                i = _ws(d, i + 1, n)
            closer = 0x7D
        else:
            if i >= n or d[i] != 0x5B:
                return None
            i = _ws(d, i + 1, n)
            for _ in range(seg):
                i = _skip_value(d, i, n)
                if i is None:
                    return None
                i = _ws(d, i, n)
                if i >= n or d[i] != 0x2C:
                    return None
                i = _ws(d, i + 1, n)
            if i < n and d[i] == 0x5D:
                return None
            closer = 0x5D
    if i >= n:
        return None
    c = d[i]
    if c == 0x22:
        r = _skip_str(d, i, n)
        if r is None:
            return None
        body = d[i + 1 : r[0] - 1]
        value: Scalar = ("s", unescape(body) if r[1] else body)
        i = r[0]
    elif c == 0x7B or c == 0x5B:
        return None
    elif c in b"tfn":
        lit = b"true" if c == 0x74 else b"false" if c == 0x66 else b"null"
        if not d.startswith(lit, i):
            return None
        value = TRUE if c == 0x74 else FALSE if c == 0x66 else NULL
        i += len(lit)
    else:
        end = _skip_number(d, i, n)
        if end is None:
            return None
        value = ("n", float(d[i:end]))
        i = end
    i = _ws(d, i, n)
    return value if i < n and (d[i] == 0x2C or d[i] == closer) else None
