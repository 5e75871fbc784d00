"""Choice of implementation: C by default, Python when forced, logged once, same public API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import omd.filters as filters

from ._support import IMPLS

PROBE = """
import json, structlog
structlog.configure(processors=[structlog.processors.JSONRenderer()])
import omd.filters, omd.filters
print(json.dumps({"impl": omd.filters.IMPL}))
"""


def _probe(env_extra: dict[str, str]) -> tuple[list[dict], str]:
    env = {k: v for k, v in os.environ.items() if k != "OMD_PURE_PYTHON"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                         check=True).stdout.splitlines()
    records = [json.loads(line) for line in out]
    return [r for r in records if r.get("event") == "filter_matcher_selected"], records[-1]["impl"]


def test_c_is_selected_by_default_and_logged_once():
    """Where the C module is built it is the one used, and the choice is logged once."""
    logs, impl = _probe({})
    assert impl == "c" and logs == [{"event": "filter_matcher_selected", "impl": "c"}]


def test_pure_python_is_forced_by_env():
    """OMD_PURE_PYTHON=1 selects the Python twin, with the reason logged."""
    logs, impl = _probe({"OMD_PURE_PYTHON": "1"})
    assert impl == "python" and len(logs) == 1 and logs[0]["impl"] == "python"


def test_no_log_line_on_stdout_when_structlog_is_not_configured():
    """A command line that never configured structlog gets a clean stdout."""
    out = subprocess.run([sys.executable, "-c", "import omd.filters"], capture_output=True, text=True,
                         check=True)
    assert out.stdout == ""


def test_public_api_shape():
    """parse, compile, Matcher, MatcherBank, IMPL and FilterError are exported as documented."""
    assert filters.IMPL in ("c", "python") and set(IMPLS) == {"c", "python"}
    m = filters.compile(["InstanceStatusUpdated"])
    assert isinstance(m, filters.Matcher) and m.match(b"InstanceStatusUpdated\0", b"{}")
    assert filters.compile(filters.parse([])).match(b"", b"")
    bank = filters.MatcherBank()
    assert bank.match_batch([(b"X\0", b"{}")]) == [[]]
    assert issubclass(filters.FilterError, Exception)
