"""The gateway under hostile TCP input: connection limits, header timeout, clean 4xx for bad
tokens and deep JSON with no log flood, and a TCP port in use that leaves api.sock serving."""

from __future__ import annotations

import resource
import socket
import time

import httpx

from tests.helpers import api_client, free_port, wait_for

TOKEN = "tokentoken"


def _config(port: int, extra: str = "") -> str:
    return (f'[daemon]\nwatchdog_interval = 0.5\n[gateway]\ntcp_listen = "127.0.0.1:{port}"\n{extra}'
            f'tokens = [{{name = "a", token = "{TOKEN}", role = "admin"}}]\n')


def _metric(daemon, name: str) -> float:
    with api_client(daemon) as c:
        for line in c.get("/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_half_sent_tcp_connections_do_not_starve_api_sock(daemon_factory):
    """400 half-sent requests on TCP with the gateway at 300 descriptors: the listener takes
    at most half of them, refuses the rest at accept (counted, rate-limited log, no
    traceback), api.sock keeps answering, and the header timeout closes the half-sent ones."""
    port = free_port()
    d = daemon_factory(_config(port, "max_connections_per_peer = 5000\nheader_timeout = 2.0\n"))
    resource.prlimit(d.subsystem_pid("gateway"), resource.RLIMIT_NOFILE, (300, 300))
    socks = []
    t0 = time.monotonic()
    try:
        for _ in range(400):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/cluster/status HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        with api_client(d, timeout=5) as c:
            assert c.get("/api/cluster/status").status_code == 200
        assert _metric(d, "omd_gateway_tcp_connections") <= 150
        assert wait_for(lambda: _metric(d, 'omd_gateway_connections_refused_total{cause="listener"}') > 0,
                        what="refusals counted")
        # the half-sent connections are closed by the server
        socks[0].settimeout(15)
        assert socks[0].recv(10) == b""
        wait_for(lambda: _metric(d, "omd_gateway_tcp_connections") == 0, timeout=15, what="all closed")
        assert _metric(d, "omd_gateway_header_timeouts_total") > 0
    finally:
        for s in socks:
            s.close()
    elapsed = time.monotonic() - t0
    log = d.log()
    assert "Traceback" not in log
    refused = _metric(d, 'omd_gateway_connections_refused_total{cause="listener"}')
    lines = log.count('"gateway_connection_refused"')
    # omd.logs: a burst of 50 (+1 saying so), then 10 per second
    assert lines <= 51 + 10 * elapsed + 1 and lines < refused, (lines, refused, elapsed)
    assert "log_rate_limited" in log


def test_connections_per_peer_are_capped(daemon_factory):
    """Over max_connections_per_peer, a new connection from the same address is closed at once."""
    port = free_port()
    d = daemon_factory(_config(port, "max_connections_per_peer = 3\n"))
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        wait_for(lambda: _metric(d, "omd_gateway_tcp_connections") == 3, what="3 open")
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            extra.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
            data = extra.recv(100)
        except ConnectionResetError:
            data = b""
        finally:
            extra.close()
        assert data == b""
        assert _metric(d, 'omd_gateway_connections_refused_total{cause="peer"}') == 1
    finally:
        for s in socks:
            s.close()
    r = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=10)
    assert r.status_code == 200


def test_invalid_utf8_token_and_deep_json_get_4xx_and_no_log_flood(daemon_factory):
    """A bearer token of invalid UTF-8 is a 401, JSON nested 100,000 deep a 400; neither
    logs an error nor publishes a Log event."""
    port = free_port()
    d = daemon_factory(_config(port))
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as c:
        for _ in range(200):
            r = c.get("/api/cluster/status", headers={"Authorization": b"Bearer \xff\xfe\xc3"})
            assert r.status_code == 401, r.text
        r = c.post("/api/node/event", headers={"Authorization": f"Bearer {TOKEN}"},
                   content="[" * 100000 + "]" * 100000)
        assert r.status_code == 400 and "nests deeper" in r.json()["detail"]
        r = c.post("/api/node/event", headers={"Authorization": f"Bearer {TOKEN}"},
                   content='{"kind": "Log", "data": ' + "[" * 500 + "]" * 500 + "}")
        assert r.status_code == 400 and "nests deeper" in r.json()["detail"]
    log = d.log()
    assert "api_handler_failed" not in log and "Traceback" not in log


def test_tcp_port_in_use_leaves_api_sock_serving_and_recovers(daemon_factory):
    """The TCP port is taken: the gateway still serves api.sock, the daemon says degraded
    with the reason (omd status too), and once the port frees the listener comes up."""
    import subprocess
    import sys

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        d = daemon_factory(_config(port), start=False).start(wait=False)
        wait_for(lambda: d.status().get("subsystems", {}).get("gateway", {}).get("degraded"), timeout=30,
                 what="gateway degraded")
        with api_client(d) as c:
            assert c.get("/api/cluster/status").status_code == 200
        wait_for(lambda: d.status().get("status") == "degraded", timeout=30, what="daemon degraded")
        reason = d.status()["subsystems"]["gateway"]["degraded"]
        assert f"127.0.0.1:{port}" in reason and "in use" in reason, reason
        out = subprocess.run([sys.executable, "-m", "omd", "--root", str(d.root), "status"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and f"gateway degraded: TCP listener 127.0.0.1:{port}" in out.stderr, out
        assert _metric(d, "omd_gateway_tcp_listener_up") == 0
    finally:
        blocker.close()
    wait_for(lambda: d.status().get("status") == "started", timeout=40, what="recovered")
    assert not d.status()["subsystems"]["gateway"]["degraded"]
    r = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=10)
    assert r.status_code == 200
    assert d.status()["subsystems"]["gateway"]["restarts"] == 0
    assert "Traceback" not in d.log()
