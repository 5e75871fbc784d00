"""The sd_notify client: datagrams to a path or an abstract socket; no-op without one."""

from __future__ import annotations

import os
import socket

from omd.daemon.sdnotify import Notifier


def test_notify_sends_datagram(tmp_path):
    """notify() sends KEY=value lines to $NOTIFY_SOCKET."""
    path = str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        n = Notifier(path)
        n.notify("READY=1", "STATUS=ok")
        assert s.recv(100) == b"READY=1\nSTATUS=ok"
        n.close()


def test_abstract_socket_address():
    """An @name address is the abstract namespace."""
    name = f"omd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        n = Notifier("@" + name)
        n.notify("WATCHDOG=1")
        assert s.recv(100) == b"WATCHDOG=1"
        n.close()


def test_disabled_without_socket(monkeypatch):
    """Without NOTIFY_SOCKET the notifier is off and notify() does nothing."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    n.notify("READY=1")


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch):
    """The watchdog is fed at half of WATCHDOG_USEC, only for our own pid."""
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier("").watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert Notifier("").watchdog_interval() is None
