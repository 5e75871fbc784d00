"""Event filters: the language (`parse`), and the matcher that applies it, in C or Python.

The C matcher (native/matcher.c via cffi) is used when its module is built; otherwise, or with
``OMD_PURE_PYTHON=1``, the pure-Python twin, which has the same semantics. `IMPL` says which.
The choice is logged once per process (``filter_matcher_selected``) when structlog has been
configured, so that command lines printing to stdout stay clean.

Public API, used by the gateway, the heartbeats and the command line:

- `parse(expressions) -> FilterSpec` (raises `FilterError`);
- `compile(spec_or_expressions) -> Matcher`, ``matcher.match(topic, data) -> bool``;
- `MatcherBank`: many matchers, matched per batch of events (see its docstring);
- `IMPL`: ``"c"`` or ``"python"``.
"""

from __future__ import annotations

import os
from typing import Iterable

import structlog

from ..errors import FilterError
from . import _python
from ._parse import DataAssertion, Filter, FilterSpec, LabelAssertion, parse

if os.environ.get("OMD_PURE_PYTHON") == "1":
    _impl, IMPL, _why = _python, "python", "OMD_PURE_PYTHON=1"
else:
    try:
        from . import _native as _impl  # type: ignore[no-redef]

        IMPL, _why = "c", ""
    except ImportError as exc:  # not built (no C compiler where installed: see setup.py)
        _impl, IMPL, _why = _python, "python", (
            f"C matcher not built ({exc}): was omd installed without a C compiler? "
            "Install gcc and python3-dev and reinstall omd for it")

Matcher = _impl.Matcher
MatcherBank = _impl.MatcherBank

if structlog.is_configured():
    if IMPL == "c" or _why == "OMD_PURE_PYTHON=1":
        structlog.get_logger().info("filter_matcher_selected", impl=IMPL, **({"reason": _why} if _why else {}))
    else:
        structlog.get_logger().warning("filter_matcher_selected", impl=IMPL, reason=_why)


def compile(spec_or_expressions: FilterSpec | Iterable[str]) -> Matcher:
    """A matcher for a `FilterSpec` or a list of expressions (parsed; raises `FilterError`)."""
    spec = spec_or_expressions
    if not isinstance(spec, FilterSpec):
        spec = parse(list(spec))
    return Matcher(spec)


def implementations() -> dict[str, object]:
    """The implementation modules available here, by name (``python``, and ``c`` if built);
    each has `Matcher` and `MatcherBank`. For tests and benchmarks."""
    impls: dict[str, object] = {"python": _python}
    try:
        from . import _native

        impls["c"] = _native
    except ImportError:
        pass
    return impls


__all__ = ["IMPL", "DataAssertion", "Filter", "FilterError", "FilterSpec", "LabelAssertion",
           "Matcher", "MatcherBank", "compile", "implementations", "parse"]
