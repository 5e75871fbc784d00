"""omd.logs rate limiting: per event name, then per process for Log events on the bus."""

from __future__ import annotations

import pytest
import structlog

from omd.logs import RateLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_lets_a_burst_through_then_counts_what_it_drops():
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    passed = []
    for _ in range(10):
        try:
            passed.append(limiter(None, "error", {"event": "boom"}))
        except structlog.DropEvent:
            pass
    # 3 of the burst, then one saying that the rest is suppressed
    assert len(passed) == 4 and passed[3]["log_rate_limited"] is True
    assert limiter(None, "info", {"event": "other"}) == {"event": "other"}  # per event name
    clock.now += 0.5  # one token back
    record = limiter(None, "error", {"event": "boom"})
    assert record["suppressed"] == 6
    assert limiter(None, "error", {"event": "boom"})["log_rate_limited"] is True  # a new episode
    with pytest.raises(structlog.DropEvent):
        limiter(None, "error", {"event": "boom"})


def test_token_bucket_refills_at_its_rate_up_to_its_burst():
    clock = Clock()
    bucket = TokenBucket(10.0, 2, clock)
    assert bucket.take() and bucket.take() and not bucket.take()
    clock.now += 100
    assert bucket.take() and bucket.take() and not bucket.take()
