"""Fixtures shared by every suite: temporary roots and real daemons, always cleaned up."""

from __future__ import annotations

from typing import Iterator

import pytest
import zmq

from omd.paths import Paths
from tests.helpers import Daemon, cleanup_root, short_root


@pytest.fixture
def root() -> Iterator:
    """A short temporary root directory, removed (with any process under it) afterwards."""
    path = short_root()
    yield path
    cleanup_root(path)


@pytest.fixture
def daemon_factory(root):
    """Build `Daemon`s under the test's root; every one is stopped at teardown."""
    made: list[Daemon] = []

    def make(config: str = "", env: dict[str, str] | None = None, start: bool = True) -> Daemon:
        d = Daemon(root, config, env)
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    """A started daemon with the default test config (watchdog every 0.5 s)."""
    return daemon_factory()


@pytest.fixture
def zctx() -> Iterator[zmq.Context]:
    """A zmq context whose sockets are all closed at teardown."""
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def run_paths() -> Iterator[Paths]:
    """The Paths of a fresh short root whose var/run/omd exists (for sockets bound by a test)."""
    path = short_root()
    p = Paths.resolve(path)
    p.run.mkdir(parents=True)
    yield p
    cleanup_root(path)
