"""The one exception tree of omd.

Every error a user can cause (bad config, bad filter, unknown kind, bad frame) is an
`OmdError` subclass with a message that says what is wrong and where. `exit_code` is what
a command line exits with when the error reaches it.
"""

from __future__ import annotations

import difflib


class OmdError(Exception):
    """Root of omd's errors. Never raised directly."""

    exit_code = 1


class ConfigError(OmdError):
    """The configuration file is unreadable, or a key or value in it is wrong."""

    exit_code = 2


class AlreadyRunningError(OmdError):
    """Another daemon already runs on this root."""

    exit_code = 2


class UnknownKindError(OmdError, KeyError):
    """An event kind name that the model does not know; the message suggests close names."""

    exit_code = 2

    def __init__(self, kind: str, known: "list[str] | tuple[str, ...]") -> None:
        self.kind = kind
        self.suggestions = difflib.get_close_matches(kind, known, n=3, cutoff=0.6)
        if not self.suggestions:
            lowered = kind.lower()
            self.suggestions = [k for k in known if lowered and lowered in k.lower()][:3]
        msg = f"unknown event kind {kind!r}"
        if self.suggestions:
            msg += f" (did you mean {', '.join(self.suggestions)}?)"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class FrameError(OmdError):
    """A bus message that does not follow the wire format.

    `cause` is a short stable token (``frame_count``, ``topic``, ``meta``, ``unknown_kind``,
    ``data``) used to log once per cause and to count drops.
    """

    def __init__(self, cause: str, detail: str) -> None:
        self.cause = cause
        super().__init__(f"{cause}: {detail}")


class ValidationError(OmdError):
    """Event data that does not fit its kind's schema; `path` names the field at fault."""

    exit_code = 2

    def __init__(self, kind: str, detail: str, path: str = "") -> None:
        self.kind = kind
        self.path = path
        super().__init__(f"invalid {kind} data: {detail}")


class FilterError(OmdError):
    """An event filter expression that does not parse; the message shows the filter with a caret
    under the offending position. `expression` and `position` locate it."""

    exit_code = 2

    def __init__(self, message: str, expression: str = "", position: int = -1) -> None:
        self.expression = expression
        self.position = position
        if expression and position >= 0:
            message = f"{message}\n  {expression}\n  {' ' * position}^"
        super().__init__(message)
