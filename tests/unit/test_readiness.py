"""omd.daemon.readiness: what a subsystem writes to the supervisor's readiness pipe."""

from __future__ import annotations

import importlib
import os

import pytest

from omd.daemon import readiness


@pytest.fixture
def pipe(monkeypatch):
    """A fresh readiness module state whose pipe is ours; yields the read end."""
    importlib.reload(readiness)
    r, w = os.pipe()
    monkeypatch.setenv(readiness.READY_FD_ENV, str(w))
    readiness.take_fd()
    yield r
    os.close(r)
    if readiness._fd is not None:
        os.close(readiness._fd)
    importlib.reload(readiness)


def test_a_degraded_report_before_ready_goes_out_in_the_same_write(pipe):
    """The supervisor must never read `ready` alone from a subsystem already degraded: it
    would count it healthy and could say the daemon `started` in between."""
    readiness.health("TCP listener 127.0.0.1:1: address in use")
    readiness.ready()
    assert os.read(pipe, 65536) == b"ready\ndegraded TCP listener 127.0.0.1:1: address in use\n"


def test_reports_after_ready_are_one_line_each(pipe):
    readiness.ready()
    readiness.ready()  # the first call only
    readiness.health("a\nb  c")
    readiness.health("")
    assert os.read(pipe, 65536) == b"ready\ndegraded a b c\nhealthy\n"
