"""Durations as upstream accepts them: Go's time.ParseDuration, plain seconds, and d/w/y units.

    parse("1h30m") == 5400.0      parse("250ms") == 0.25      parse("10") == 10.0
    parse("2d") == 172800.0       parse("0") == 0.0

Raises ValueError with a message that says what is accepted, or why the value is refused:
not a finite number (inf, nan), negative, or larger than Go's time.Duration holds (MAX_SECONDS,
whole seconds of 2^63-1 ns, about 292 years). The CLI and the API both parse durations here.
"""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
    "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0,
}
MAX_SECONDS = float((2**63 - 1) // 10**9)  # whole seconds of Go's max time.Duration
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w|y)")


def parse(text: str) -> float:
    """Seconds in `text` (see the module docstring); ValueError when it is not a duration."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if value != value or (value in (float("inf"), float("-inf")) and "inf" in s.lower()):
            raise ValueError(f"invalid duration {text!r}: not a finite number")
        if value < 0:  # -1e400 too
            raise ValueError(f"invalid duration {text!r}: must not be negative")
        return _bounded(text, value)
    sign = 1.0
    if s[0] in "+-":
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(
                f"invalid duration {text!r}: use seconds (30) or Go units like 1h30m, 250ms, 2d"
            )
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if sign < 0 and total:
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    return _bounded(text, total)


def _bounded(text: str, value: float) -> float:
    if value > MAX_SECONDS:
        raise ValueError(f"invalid duration {text!r}: too large (max {format_go(MAX_SECONDS)}, about 292y)")
    return value


def format_go(seconds: float) -> str:
    """Render seconds like Go's time.Duration.String() (`1m30s`, `250ms`, `1.5s`, `0s`)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    neg, ns = ns < 0, abs(ns)
    if ns < 1_000:
        out = f"{ns}ns"
    elif ns < 1_000_000:
        out = f"{_trim(ns / 1e3)}µs"
    elif ns < 1_000_000_000:
        out = f"{_trim(ns / 1e6)}ms"
    else:
        h, rem = divmod(ns, 3_600_000_000_000)
        m, rem = divmod(rem, 60_000_000_000)
        secs = _trim(rem / 1e9)
        out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{secs}s"
    return ("-" if neg else "") + out


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
