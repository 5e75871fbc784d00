"""Property-based runs against the live API: no request, however odd, gets a 500."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.helpers import REPO, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A daemon with a plain-HTTP TCP listener and an admin token, for the whole module."""
    from tests.helpers import Daemon, cleanup_root, short_root

    root = short_root()
    port = _free_port()
    d = Daemon(root, f'[daemon]\nwatchdog_interval = 0.5\n[gateway]\ntcp_listen = "127.0.0.1:{port}"\n'
                     'tokens = [{name = "fuzz", token = "fuzztoken1", role = "admin"}]\n').start()
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(base + "/api/openapi.json", timeout=2).status_code == 200
        except httpx.TransportError:
            return False
    wait_for(up, timeout=20, what="TCP API")
    yield base
    d.stop()
    cleanup_root(root)


ODD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=st.lists(ODD, max_size=3), limit=ODD, duration=ODD, replay=ODD, selector=ODD, last=ODD)
def test_event_stream_parameters_never_500(api, filters, limit, duration, replay, selector, last):
    """Arbitrary event-stream parameters get 200 or a 4xx problem, never a server error."""
    params = [("filter", f) for f in filters] + [("limit", limit), ("replay", replay), ("selector", selector),
                                                  ("last_event_id", last), ("duration", "0.2")]
    params.append(("duration", duration))  # the first duration wins: streams always end
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
    with httpx.Client(base_url=api, headers={"Authorization": "Bearer fuzztoken1"}, timeout=10) as c:
        with c.stream("GET", f"/api/node/name/localhost/daemon/event?{query}") as r:
            assert r.status_code in (200, 400), r.status_code
            if r.status_code == 400:
                body = r.read()
                assert b'"status": 400' in body or b'"status":400' in body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | ODD,
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD, inner, max_size=3),
                         max_leaves=10),
       kind=st.sampled_from(["InstanceStatusPost", "NodeStatsUpdated", "InstanceStatusUpdated", "WatchDog", "Nope", ""]))
def test_post_event_bodies_never_500(api, body, kind):
    """Arbitrary JSON bodies on the POST endpoints get 2xx or 4xx, never a server error."""
    with httpx.Client(base_url=api, headers={"Authorization": "Bearer fuzztoken1"}, timeout=10) as c:
        for payload in (body, {"kind": kind, "data": body}, {"kind": kind, "labels": body},
                        {"path": body, "instance_status": body}):
            for path in ("/api/node/event", "/api/instance/status"):
                r = c.post(path, json=payload)
                assert r.status_code < 500, (path, payload, r.text)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(api):
    """schemathesis, driven by docs/openapi.json, finds no 500 on the non-streaming operations."""
    exe = shutil.which("schemathesis", path=str(REPO)) or shutil.which("schemathesis") or shutil.which(
        "st", path=sys.prefix + "/bin")
    assert exe, "schemathesis is a test dependency"
    result = subprocess.run(
        [exe, "run", str(REPO / "docs" / "openapi.json"), "--url", api, "-H", "Authorization: Bearer fuzztoken1",
         "--checks", "not_a_server_error", "--exclude-operation-id", "GetDaemonEvents", "--max-examples", "50",
         "--request-timeout", "5"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
