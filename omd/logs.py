"""Logging: structlog configured once per process, and log records republished on the bus.

Records go to stdout (journald under systemd): JSON when stdout is not a terminal, readable
console lines otherwise. `subsystem` and `pid` are bound on every record. Records at info and
above are also published as `Log` events once a publisher is attached, so `om node events
--filter Log` shows what the daemon says.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


class _BusForwarder:
    """structlog processor that publishes info+ records as Log events (never recursively)."""

    def __init__(self) -> None:
        self.publisher: Any = None
        self.subsystem = ""
        self._busy = False

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        pub = self.publisher
        if pub is None or self._busy or _LEVELS.get(method, logging.INFO) < logging.INFO:
            return event_dict
        self._busy = True
        try:
            from omd.model.events import Log

            extras = " ".join(
                f"{k}={v}" for k, v in event_dict.items()
                if k not in ("event", "subsystem", "pid", "timestamp", "level")
            )
            message = str(event_dict.get("event", "")) + (f" {extras}" if extras else "")
            pub.publish(Log(message=message, level=method, subsystem=self.subsystem), ready_timeout=0)
        except Exception:  # the log path must never break the caller
            pass
        finally:
            self._busy = False
        return event_dict


forwarder = _BusForwarder()


def configure(subsystem: str, level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog for this process; call once at process start."""
    forwarder.subsystem = subsystem
    forwarder.publisher = None
    if fmt == "auto":
        fmt = "console" if sys.stdout.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
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
