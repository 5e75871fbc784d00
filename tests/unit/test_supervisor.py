"""The supervisor's decisions in isolation: restart backoff, stop escalation, selective reload."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from omd.config import parse
from omd.daemon.registry import parse_instance
from omd.daemon.supervisor import Child, Supervisor, next_backoff, plan_reload
from omd.paths import Paths

INITIAL, MAXIMUM, RESET = 0.5, 30.0, 30.0


def test_backoff_doubles_while_a_subsystem_dies_young():
    """Each death soon after a start doubles the delay: 0.5, 1, 2, ... capped at the maximum."""
    delays, backoff = [], 0.0
    for _ in range(9):
        backoff = next_backoff(backoff, 1.0, INITIAL, MAXIMUM, RESET)
        delays.append(backoff)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_starts_over_after_a_long_run():
    """A subsystem that ran `restart_backoff_reset` seconds before dying restarts after the initial delay."""
    assert next_backoff(16.0, RESET, INITIAL, MAXIMUM, RESET) == INITIAL
    assert next_backoff(16.0, RESET - 0.1, INITIAL, MAXIMUM, RESET) == 30.0


def _signatures(config_text: str) -> dict[str, bytes]:
    config = parse(config_text)
    from omd.daemon.registry import instances

    return {inst.id: inst.kind.signature(config) for inst in instances(config)}


def test_reload_plan_restarts_only_what_reads_the_changed_section():
    """A changed [nmon] key restarts nmon only; the bus, journal and gateway keep running."""
    running = _signatures('[node]\nname = "n1"\n')
    plan = plan_reload(running, parse('[node]\nname = "n1"\n[nmon]\nstats_interval = 7.0\n'))
    assert plan.restart == ("nmon",) and plan.stop == () and plan.start == ()


def test_reload_plan_journal_reads_only_the_ring_size_of_the_gateway_section():
    """Gateway tokens restart the gateway, not the journal; the ring size restarts both."""
    running = _signatures('[node]\nname = "n1"\n')
    tokens = plan_reload(running, parse('[node]\nname = "n1"\n[gateway]\nkeepalive_interval = 3.0\n'))
    assert tokens.restart == ("gateway",)
    ring = plan_reload(running, parse('[node]\nname = "n1"\n[gateway]\nring_size = 77\n'))
    assert ring.restart == ("journal", "gateway")


def test_reload_plan_common_sections_restart_everything():
    """A log level change is read by every subsystem: all restart, in start order."""
    running = _signatures('[node]\nname = "n1"\n')
    plan = plan_reload(running, parse('[node]\nname = "n1"\n[log]\nlevel = "debug"\n'))
    assert plan.restart == tuple(running)


def test_reload_plan_stops_removed_and_starts_added_subsystems():
    """A shorter [daemon] subsystems list stops the others (last first) and starts new ones."""
    running = _signatures('[node]\nname = "n1"\n[daemon]\nsubsystems = ["journal", "nmon", "istat"]\n')
    plan = plan_reload(running, parse('[node]\nname = "n1"\n[daemon]\nsubsystems = ["journal", "omon"]\n'))
    assert plan.stop == ("istat", "nmon") and plan.start == ("omon",) and plan.restart == ()
    assert [i.id for i in plan.order] == ["bus", "journal", "omon"]


def test_instance_ids_name_heartbeat_links():
    """`hb#1.tx` parses as instance 1 of kind hb.tx once that kind exists; unknown ids are refused."""
    assert parse_instance("nmon").kind.name == "nmon"
    with pytest.raises(ValueError, match="unknown subsystem 'nope'"):
        parse_instance("nope")
    with pytest.raises(ValueError, match="unknown subsystem"):
        parse_instance("hb#x.tx")


def test_stop_escalates_to_sigkill_after_the_grace(tmp_path):
    """A child that ignores SIGTERM is killed after `stop_grace` seconds, and reported stopped."""
    config = parse('[node]\nname = "n1"\n[daemon]\nstop_grace = 0.5\n')
    sup = Supervisor(config, Paths.resolve(tmp_path))
    child = Child.of(parse_instance("nmon"), config)
    child.proc = subprocess.Popen([sys.executable, "-c", "import signal, sys, time\n"
                                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                   "print('ready', flush=True)\ntime.sleep(60)\n"],
                                  stdout=subprocess.PIPE, text=True)
    try:
        assert child.proc.stdout is not None and child.proc.stdout.readline() == "ready\n"
        started = time.monotonic()
        sup._stop_child(child)
        took = time.monotonic() - started
        assert child.state == "stopped" and child.last_exit == -9
        assert 0.4 <= took < 10, took
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.wait()
        child.proc.stdout.close()
        sup._wake_r.close()
        sup._wake_w.close()
