"""Logging: structlog configured once per process, and log records republished on the bus.

Records go to stdout (journald under systemd): JSON when stdout is not a terminal, readable
console lines otherwise. `subsystem` and `pid` are bound on every record. Records at info and
above are also published as `Log` events once a publisher is attached, so `om node events
--filter Log` shows what the daemon says.

Both are rate-limited, so that nothing a client sends can fill the disk or turn the journal's
ring over with Log events: each event name may log `RECORD_BURST` records at once and
`RECORD_RATE` per second after that (`RateLimiter`); the first record over the limit says
`log_rate_limited=true`, and the next one let through carries `suppressed=K`, the number of
records of that name dropped meanwhile. Log events on the bus are limited once more, per
process and whatever the name (`LOG_EVENT_RATE`, `LOG_EVENT_BURST`), the next one published
saying how many were dropped (`dropped=K`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any, Callable

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}

# Records of one event name: this many at once, then this many per second.
RECORD_BURST = 50
RECORD_RATE = 10.0
# Log events published on the bus by one process, all names together.
LOG_EVENT_BURST = 100
LOG_EVENT_RATE = 20.0
# Event names whose buckets are kept; beyond it the full (idle) buckets are forgotten.
_MAX_NAMES = 4096


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; `take()` is False when empty."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.last = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def full(self) -> bool:
        return self.tokens + (self.clock() - self.last) * self.rate >= self.burst


class RateLimiter:
    """structlog processor: at most `burst` records of one event name at once, `rate` per
    second after; drops the others and counts them (see the module docstring)."""

    def __init__(self, rate: float = RECORD_RATE, burst: float = RECORD_BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: dict[str, TokenBucket] = {}
        self.suppressed: dict[str, int] = {}

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        name = str(event_dict.get("event", ""))
        bucket = self.buckets.get(name)
        if bucket is None:
            if len(self.buckets) >= _MAX_NAMES:
                self.buckets = {k: b for k, b in self.buckets.items() if not b.full() or k in self.suppressed}
            bucket = self.buckets[name] = TokenBucket(self.rate, self.burst, self.clock)
        if bucket.take():
            dropped = self.suppressed.pop(name, None)
            if dropped is not None:
                if dropped:
                    event_dict["suppressed"] = dropped
            return event_dict
        if name not in self.suppressed:  # the first one over the limit says so
            self.suppressed[name] = 0
            event_dict["log_rate_limited"] = True
            return event_dict
        self.suppressed[name] += 1
        raise structlog.DropEvent


class _BusForwarder:
    """structlog processor that publishes info+ records as Log events (never recursively)."""

    def __init__(self) -> None:
        self.publisher: Any = None
        self.subsystem = ""
        self._busy = False
        self.bucket = TokenBucket(LOG_EVENT_RATE, LOG_EVENT_BURST)
        self.dropped = 0

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        pub = self.publisher
        if pub is None or self._busy or _LEVELS.get(method, logging.INFO) < logging.INFO:
            return event_dict
        if not self.bucket.take():
            self.dropped += 1
            return event_dict
        self._busy = True
        try:
            from omd.model.events import Log

            extras = " ".join(
                f"{k}={v}" for k, v in event_dict.items()
                if k not in ("event", "subsystem", "pid", "timestamp", "level")
            )
            message = str(event_dict.get("event", "")) + (f" {extras}" if extras else "")
            if self.dropped:
                message += f" (dropped={self.dropped} Log events over the rate limit before this one)"
                self.dropped = 0
            pub.publish(Log(message=message, level=method, subsystem=self.subsystem), ready_timeout=0)
        except Exception:  # the log path must never break the caller
            pass
        finally:
            self._busy = False
        return event_dict


forwarder = _BusForwarder()
limiter = RateLimiter()


def configure(subsystem: str, level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog for this process; call once at process start."""
    global limiter
    forwarder.subsystem = subsystem
    forwarder.publisher = None
    limiter = RateLimiter()
    if fmt == "auto":
        fmt = "console" if sys.stdout.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            limiter,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            forwarder,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(subsystem=subsystem, pid=os.getpid())


def attach_publisher(publisher: Any) -> None:
    """Publish this process's info+ records on the bus through `publisher` from now on."""
    forwarder.publisher = publisher


def detach_publisher() -> None:
    """Stop publishing records (before the publisher closes)."""
    forwarder.publisher = None


def asyncio_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A loop exception handler that logs one rate-limited record (`asyncio_error`) instead
    of asyncio's traceback per occurrence (e.g. one per refused accept when descriptors run
    out): install with `loop.set_exception_handler`."""
    exc = context.get("exception")
    structlog.get_logger().error("asyncio_error", message=context.get("message", ""),
                                 error=f"{type(exc).__name__}: {exc}" if exc is not None else None)
