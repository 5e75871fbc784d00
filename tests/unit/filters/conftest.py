"""Fixtures of the filter tests: every matcher test runs against the C and the Python twin."""

from __future__ import annotations

import pytest

from omd.filters import implementations


@pytest.fixture(params=["c", "python"])
def impl(request):
    """The matcher implementation module under test (`Matcher`, `MatcherBank`)."""
    impls = implementations()
    if request.param not in impls:
        pytest.fail("the C matcher is not built: pip install -e . must build omd._filter_native")
    return impls[request.param]
