"""A running daemon and the files its configuration names: a reload that names a missing one."""

from __future__ import annotations

import signal

from tests.helpers import wait_for


def test_sighup_reload_refuses_a_missing_tls_cert_and_keeps_running(daemon_factory, root):
    """SIGHUP with a config whose tls_cert does not exist is refused naming the key; the daemon
    keeps its running configuration and never starts a gateway that would crash-loop."""
    daemon = daemon_factory("[daemon]\nwatchdog_interval = 0.5\nsubsystems = [\"journal\"]\n")
    key = root / "key.pem"
    key.write_text("unused\n")
    daemon.paths.config_file.write_text(
        "[daemon]\nwatchdog_interval = 0.5\nsubsystems = [\"journal\", \"gateway\"]\n"
        f"[gateway]\ntcp_listen = \"127.0.0.1:1215\"\ntls_cert = \"{root}/gone.pem\"\ntls_key = \"{key}\"\n")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reload_failed" in daemon.log(), what="the reload refusal in the log")
    line = next(x for x in daemon.log().splitlines() if "config_reload_failed" in x)
    assert f"gateway.tls_cert: {root}/gone.pem: no such file" in line
    status = daemon.status()
    assert list(status["subsystems"]) == ["bus", "journal"]
    assert all(s["state"] == "running" for s in status["subsystems"].values())
    assert daemon.proc.poll() is None and "Traceback" not in daemon.log()
    assert daemon.stop() == 0


def test_sighup_with_the_config_gone_or_a_new_node_name_keeps_the_running_one(daemon_factory):
    """A vanished config is an error, not the embedded defaults (which would drop the TCP
    listener and every token, and rename the node); a new [node] name is a restart, refused
    by a reload. Either way the daemon keeps its configuration, its name and its subsystems."""
    config = "[node]\nname = \"n7\"\n[daemon]\nwatchdog_interval = 0.5\nsubsystems = [\"journal\"]\n"
    daemon = daemon_factory(config)
    pids = {name: s["pid"] for name, s in daemon.status()["subsystems"].items()}
    daemon.paths.config_file.unlink()
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "does not exist" in daemon.log(), what="the missing-file refusal")
    line = next(x for x in daemon.log().splitlines() if "config_reload_failed" in x)
    assert "running configuration" in line
    daemon.paths.config_file.write_text(config.replace("n7", "n8"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "restart the daemon to rename the node" in daemon.log(), what="the rename refusal")
    status = daemon.status()
    assert status["node"] == "n7" and status["status"] == "started"
    assert {name: s["pid"] for name, s in status["subsystems"].items()} == pids
    assert "config_reloaded" not in daemon.log()
    assert daemon.stop() == 0
