"""The CLI at its edges, as real `om` / `ox` subprocesses: bad contexts and durations, no retry
of what cannot heal, and a clean daemon stop told as such (issue 12, items 1-4 and 13)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import api_client, free_port, pids_under_root, wait_for

BIN = Path(sys.executable).parent
BAD_DURATIONS = {
    "inf": "not a finite number",
    "nan": "not a finite number",
    "1e400": "too large (max 2562047h47m16s",
    "100000000000000d": "too large (max 2562047h47m16s",
    "-5": "must not be negative",
    "-1m": "must not be negative",
}


def _run(cmd: str, *args: str, env: dict | None = None, timeout: float = 30, input: str | None = None):
    return subprocess.run([str(BIN / cmd), *args], capture_output=True, text=True, timeout=timeout, input=input,
                          env={**os.environ, **(env or {})})


def _certs(where: Path, name: str) -> tuple[Path, Path]:
    cert, key = where / f"{name}-cert.pem", where / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _contexts(home: Path, **contexts: dict) -> dict:
    (home / "omd").mkdir(exist_ok=True)
    text = "".join(f"[contexts.{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ctx.items())
                   for name, ctx in contexts.items())
    (home / "omd" / "contexts.toml").write_text(text)
    return {"XDG_CONFIG_HOME": str(home)}


def test_ox_context_with_a_missing_or_bad_ca_is_a_usage_error(tmp_path):
    """A context's ca file missing, unreadable or not a certificate: exit 2 naming the file (as a
    bad token_file), no traceback."""
    unreadable = tmp_path / "unreadable.pem"
    unreadable.write_text("x")
    unreadable.chmod(0)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    server = f"https://127.0.0.1:{free_port()}"
    env = _contexts(tmp_path, missing={"server": server, "ca": str(tmp_path / "nope.pem")},
                    unreadable={"server": server, "ca": str(unreadable)},
                    garbage={"server": server, "ca": str(garbage)},
                    token={"server": server, "token_file": str(tmp_path / "nope.token")})
    expect = {"missing": "No such file or directory", "garbage": "not a PEM CA bundle",
              "token": "No such file or directory"}
    if os.geteuid() != 0:  # root reads a mode 0 file
        expect["unreadable"] = "Permission denied"
    for name, reason in expect.items():
        r = _run("ox", "--context", name, "node", "events", "--limit", "1", env=env)
        assert r.returncode == 2, (name, r.stderr)
        assert "Traceback" not in r.stderr and reason in r.stderr, (name, r.stderr)
        assert f"contexts.{name}." in r.stderr, r.stderr
        if name != "token":
            assert f"contexts.{name}.ca" in r.stderr and str(tmp_path) in r.stderr, r.stderr


@pytest.mark.parametrize("value", list(BAD_DURATIONS))
def test_bad_durations_are_refused_before_anything_runs(root, tmp_path, value):
    """--duration and --retry-timeout refuse inf, nan, overflows and negatives with exit 2 and
    the reason, before connecting, and with --input too (no daemon runs here)."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"kind":"WatchDog","id":1,"at":"","data":{"labels":{}}}\n')
    env = {"OMD_ROOT": str(root)}
    for args in (["--duration", value], ["--retry-timeout", value], ["--input", str(events), "--duration", value]):
        r = _run("om", "node", "events", *args, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert BAD_DURATIONS[value] in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert "Invalid value for --" in r.stderr


def test_api_refuses_bad_durations_with_a_400_problem(daemon):
    """The API parses `duration` with the same parser: 400 problems with the same reasons."""
    wait_for(lambda: daemon.paths.api_socket.exists(), what="api socket")
    with api_client(daemon) as c:
        for value, reason in BAD_DURATIONS.items():
            r = c.get("/api/node/name/localhost/daemon/event", params={"duration": value})
            assert r.status_code == 400, (value, r.text)
            doc = r.json()
            assert reason in doc["detail"] and doc.get("parameter", "duration") == "duration", doc
        r = c.get("/api/node/name/localhost/daemon/event", params={"duration": "292y", "limit": "1",
                                                                      "filter": "WatchDog"})
        assert r.status_code == 200 and "event: WatchDog" in r.text


def _stream(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "om"), "node", "events", "-o", "json", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMD_ROOT": str(root)})


def _post(daemon, score: int) -> None:
    with api_client(daemon) as c:
        r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated", "labels": {"node": "stop"},
                                            "data": {"node": "stop", "node_stats": {"score": score}}})
        assert r.status_code == 200, r.text


def _streams_open(daemon, count: int) -> None:
    with api_client(daemon) as c:
        wait_for(lambda: f"omd_gateway_streams {count:.1f}" in c.get("/metrics").text, timeout=15,
                 what=f"{count} streams open")


def test_clean_stop_is_told_as_a_stop_and_retry_timeout_0_does_not_retry(daemon_factory):
    """A clean gateway stop ends streams with `: stop <reason>`: the CLI says the server stopped,
    resumes once the supervisor restarted it, with no loss and no replay announced (the journal
    held every event: none follows). With --retry-timeout 0 the CLI does not retry at all."""
    d = daemon_factory()
    wait_for(lambda: d.paths.api_socket.exists(), what="api socket")
    flt = "NodeStatsUpdated,node=stop"
    resuming = _stream(d.root, "--filter", flt, "--limit", "6", "--retry-timeout", "60")
    no_retry = _stream(d.root, "--filter", flt, "--retry-timeout", "0")
    procs = [resuming, no_retry]
    try:
        _streams_open(d, 2)
        for i in range(3):
            _post(d, i)
        old = d.subsystem_pid("gateway")
        os.kill(old, signal.SIGTERM)
        out0, err0 = no_retry.communicate(timeout=15)
        wait_for(lambda: d.status()["subsystems"]["gateway"]["pid"] not in (0, old)
                 and d.status()["subsystems"]["gateway"]["state"] == "running", timeout=30, what="gateway restart")
        for i in range(3, 6):
            _post(d, i)
        out, err = resuming.communicate(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert no_retry.returncode == 1, err0
    assert "the server stopped (the gateway is stopping)" in err0 and "no retry" in err0, err0
    assert "reconnecting" not in err0 and "replayed state" not in err0 and "Traceback" not in err0, err0
    assert [json.loads(line)["data"]["node_stats"]["score"] for line in out0.splitlines()] == [0, 1, 2]
    assert resuming.returncode == 0, err
    assert [json.loads(line)["data"]["node_stats"]["score"] for line in out.splitlines()] == list(range(6))
    assert "event stream ended: the server stopped (the gateway is stopping); reconnecting" in err, err
    assert "reconnected to" in err and "replayed state" not in err and "gap:" not in err, err


def test_errors_that_cannot_heal_fail_fast(daemon_factory, root, tmp_path):
    """A TLS verification failure and a stale api.sock (daemon killed with -9) end the command
    at once with a clear message, whatever --retry-timeout says."""
    cert, key = _certs(tmp_path, "server")
    other, _ = _certs(tmp_path, "other")
    port = free_port()
    d = daemon_factory(f'[daemon]\nwatchdog_interval = 0.3\n[gateway]\ntcp_listen = "127.0.0.1:{port}"\n'
                       f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
                       'tokens = [{name = "ops", token = "opstoken1", role = "operator"}]\n')
    wait_for(lambda: d.paths.api_socket.exists(), what="api socket")
    server = f"https://127.0.0.1:{port}"
    env = _contexts(tmp_path, wrongca={"server": server, "token": "opstoken1", "ca": str(other)},
                    good={"server": server, "token": "opstoken1", "ca": str(cert)})
    with socket.socket() as s:
        wait_for(lambda: s.connect_ex(("127.0.0.1", port)) == 0, what="tls listener")
    r = _run("ox", "--context", "good", "node", "events", "--filter", "WatchDog", "--limit", "1", env=env)
    assert r.returncode == 0, r.stderr
    started = time.monotonic()
    r = _run("ox", "--context", "wrongca", "node", "events", "--retry-timeout", "60", env=env)
    assert r.returncode == 1 and time.monotonic() - started < 15, r.stderr
    assert f"TLS verification of {server} failed" in r.stderr and "context's ca" in r.stderr, r.stderr
    assert "reconnecting" not in r.stderr and "Traceback" not in r.stderr, r.stderr

    pids = pids_under_root(root)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pids_under_root(root), what="daemon processes gone")
    assert d.paths.api_socket.exists()  # the stale socket a kill -9 leaves
    started = time.monotonic()
    r = _run("om", "node", "events", "--retry-timeout", "60", env={"OMD_ROOT": str(root)})
    assert r.returncode == 1 and time.monotonic() - started < 15, r.stderr
    assert "stale socket" in r.stderr and "om daemon start" in r.stderr, r.stderr
    assert "reconnecting" not in r.stderr and "Traceback" not in r.stderr, r.stderr
