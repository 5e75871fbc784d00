"""How the supervisor hands the configuration to its children: no secrets in the environment,
no size limit."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import wait_for

TOKEN = "s3cret-token-never-in-environ"


def test_tokens_are_not_in_any_childs_environment(daemon_factory):
    """A bearer token of the config appears in no subsystem's /proc/<pid>/environ."""
    d = daemon_factory(f'[daemon]\nwatchdog_interval = 0.5\n[[gateway.tokens]]\nname = "ops"\n'
                       f'token = "{TOKEN}"\nrole = "admin"\n')
    pids = [sub["pid"] for sub in d.status()["subsystems"].values()]
    assert pids and all(pids)
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert TOKEN.encode() not in environ, f"the token is in the environment of pid {pid}"
        assert b"OMD_CONFIG_JSON" not in environ


def test_a_config_larger_than_the_environment_allows_runs(daemon_factory):
    """A 200 KiB config (past Linux's 128 KiB per environment variable) starts every subsystem."""
    labels = "\n".join(f'label{i:05d} = "{"x" * 40}"' for i in range(4000))
    d = daemon_factory(f'[daemon]\nwatchdog_interval = 0.5\n[node.labels]\n{labels}\n')
    assert len(d.paths.config_file.read_bytes()) > 200_000
    status = d.status()
    assert status["status"] == "started", status
    wait_for(lambda: all(s["state"] == "running" for s in d.status()["subsystems"].values()),
             what="every subsystem running")
