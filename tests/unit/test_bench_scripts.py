"""The benchmarks in bench/ stay runnable: each one's --help imports everything it uses.

They are not run by the suite (docs/benchmarks.md says how and when), so a moved module
would otherwise break them silently (it did: `from omd import wire` after the layout move).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO

BENCHES = sorted(p.name for p in (REPO / "bench").glob("*.py"))


@pytest.mark.parametrize("script", BENCHES)
def test_bench_script_imports_and_shows_its_help(script):
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower()
