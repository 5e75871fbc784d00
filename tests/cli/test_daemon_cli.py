"""`omd` and `om daemon` as real subprocesses at the edges: bad files, crash-looping subsystems."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.helpers import REPO, wait_for

ENV = {k: v for k, v in os.environ.items() if k != "OMD_ROOT"}


def _omd(root, *args, timeout=30):
    return subprocess.run([sys.executable, "-m", "omd", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env=ENV)


def _om(root, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "omd_cli.om", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**ENV, "OMD_ROOT": str(root)})


@pytest.fixture
def held_port():
    """A listening TCP socket on 127.0.0.1 that the test holds, so nobody else can bind its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _port_taken_config(port: int) -> str:
    """A config that validation accepts but whose gateway runs degraded: its port is taken."""
    return ("[daemon]\nwatchdog_interval = 0.5\nsubsystems = [\"journal\", \"gateway\"]\n"
            "restart_backoff_initial = 0.1\nrestart_backoff_max = 0.5\nstart_timeout = 2\n"
            f"[gateway]\ntcp_listen = \"127.0.0.1:{port}\"\n")


def _write_config(root, text: str) -> None:
    conf = root / "etc" / "omd" / "omd.toml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)


def test_check_config_refuses_a_missing_tls_cert_naming_the_key(root):
    """`omd --check-config` exits 2 naming `gateway.tls_cert` when the certificate does not exist."""
    key = root / "key.pem"
    key.write_text("not used: the certificate is checked first\n")
    _write_config(root, f'[gateway]\ntcp_listen = "127.0.0.1:1215"\n'
                        f'tls_cert = "{root}/missing.pem"\ntls_key = "{key}"\n')
    result = _omd(root, "--check-config")
    assert result.returncode == 2, result
    assert f"gateway.tls_cert: {root}/missing.pem: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_names_a_degraded_subsystem_and_exits_1(daemon_factory, held_port):
    """`omd status` exits 1 naming a subsystem that runs degraded (the gateway whose TCP port
    is taken: api.sock serves), with the reason, and 0 once it recovers."""
    port = held_port.getsockname()[1]
    daemon = daemon_factory(_port_taken_config(port), start=False).start(wait=False)
    wait_for(lambda: daemon.status().get("status") == "degraded"
             and daemon.status()["subsystems"]["gateway"].get("degraded"), timeout=30, what="gateway degraded")
    assert _omd(daemon.root, "--check-config").returncode == 0  # validation cannot see a taken port

    result = _omd(daemon.root, "status")
    assert result.returncode == 1, result
    assert "omd is not healthy: " in result.stderr
    assert f"gateway degraded: TCP listener 127.0.0.1:{port}" in result.stderr
    assert "journal" not in result.stderr.split("not healthy:")[1]  # only what is not healthy
    assert "journal" in result.stdout and "gateway" in result.stdout and "degraded: TCP" in result.stdout

    as_json = _omd(daemon.root, "status", "--json")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["running"] is True and doc["healthy"] is False
    assert any(p.startswith("gateway degraded: ") for p in doc["problems"]), doc["problems"]

    held_port.close()  # the port is free: the gateway's next bind attempt succeeds
    wait_for(lambda: _omd(daemon.root, "status").returncode == 0, timeout=30, what="a healthy status")
    doc = json.loads(_omd(daemon.root, "status", "--json").stdout)
    assert doc["healthy"] is True and doc["problems"] == []
    assert daemon.stop() == 0


def test_om_daemon_start_fails_naming_the_subsystem_that_is_not_healthy(root, held_port):
    """`om daemon start` exits 1 naming the gateway when it is degraded past the start timeout.

    The timeout must leave the subsystems time to start and report on a loaded machine (4 s
    did not, with two busy loops: the daemon was still `starting`)."""
    _write_config(root, _port_taken_config(held_port.getsockname()[1]))
    try:
        result = _om(root, "daemon", "start", "--timeout", "15")
        assert result.returncode == 1, result
        assert "is running but not ready after 15s" in result.stderr
        assert "gateway degraded: TCP listener" in result.stderr
        assert "omd started" not in result.stdout
        assert "Traceback" not in result.stderr
    finally:
        stopped = _om(root, "daemon", "stop")
    assert stopped.returncode == 0 and "omd stopped" in stopped.stdout


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"status": "started", "subsystems": {"bus": {"state": "running"}}}, []),
        ({"status": "degraded", "subsystems": {"bus": {"state": "running"}}}, ["daemon degraded"]),
        ({"status": "started", "subsystems": {"gateway": {"state": "restarting", "restarts": 4, "last_exit": -9}}},
         ["gateway restarting (restarts 4, last exit -9 (SIGKILL))"]),
        ({"status": "started", "subsystems": {"journal": {"state": "starting", "restarts": 0, "last_exit": None}}},
         ["journal starting (restarts 0)"]),
        ({"status": "degraded", "subsystems": {"gateway": {"state": "running", "degraded": "TCP listener down"}}},
         ["daemon degraded", "gateway degraded: TCP listener down"]),
        ({"status": "started", "subsystems": {"x": "garbage"}}, ["x ? (restarts ?)"]),
        ({"status": "started"}, ["no subsystem states in the status file"]),
    ],
    ids=["healthy", "degraded", "killed", "starting", "running-degraded", "malformed-entry", "no-subsystems"],
)
def test_problems_name_each_subsystem_not_running(doc, expected):
    """`omd status` judges health from each subsystem's state and says why, even on a malformed file."""
    from omd.main import problems

    assert problems(doc) == expected
