"""The gateway with a real daemon: SSE framing, filters, limits, replay, resume, restarts, auth."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import threading
import subprocess
import time
from urllib.parse import quote

import httpx
import httpx_sse
import pytest

from omd.model.events import InstanceStatusUpdated, NodeStatsUpdated, NodeStatusUpdated, ObjectStatusUpdated
from omd.sockets import Publisher
from omd.model.wire import topic_prefix
from tests.helpers import REPO, ready_subscriber, wait_for
from tests.sse import RawStream

EVENTS = "/api/node/name/localhost/daemon/event"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(daemon) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.paths.api_socket)), base_url="http://omd",
                        timeout=10)


def _wait_api(daemon) -> None:
    def up():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(str(daemon.paths.api_socket))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: omd\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
            except OSError:
                return False
    wait_for(up, timeout=20, what="gateway API")


@pytest.fixture
def gw(daemon_factory):
    """A daemon with journal and gateway, a short keep-alive and a small ring."""
    d = daemon_factory("[daemon]\nwatchdog_interval = 0.5\n[gateway]\nkeepalive_interval = 0.3\nring_size = 50\n")
    _wait_api(d)
    return d


@pytest.fixture
def pub(gw, zctx):
    """A publisher on the test daemon's bus."""
    p = Publisher(zctx, gw.endpoint("in"), "n1", "test")
    assert p.wait_ready(10)
    yield p
    p.close(linger_ms=0)


_OPEN: list[RawStream] = []


@pytest.fixture(autouse=True)
def _close_streams():
    """Close every raw stream a test opened."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _stream(daemon, query: str = "", headers=None, rcvbuf=None) -> RawStream:
    s = RawStream(str(daemon.paths.api_socket), EVENTS + (f"?{query}" if query else ""), headers, rcvbuf)
    _OPEN.append(s)
    return s


def _istat(path: str, avail: str = "up", node: str = "n1", seq: int = 0) -> InstanceStatusUpdated:
    ev = InstanceStatusUpdated(path=path, node=node, labels={"path": path, "node": node, "namespace": path.split("/")[0] if "/" in path else "root"})
    ev.instance_status.avail = avail
    ev.instance_status.updated_at = f"2026-01-01T00:00:{seq:02d}Z"
    return ev


def _sync(daemon, pub, stream: RawStream) -> None:
    """Publish NodeStatsUpdated markers until one reaches `stream` (it must accept that kind)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pub.publish(NodeStatsUpdated(node="sync", labels={"node": "sync"}))
        got = stream.events(1, timeout=0.3)
        if got:
            return
    raise AssertionError("stream never received the sync marker")


def test_framing_headers_and_strict_parse(gw, pub):
    """Headers and frames follow upstream: event, id, time, data, blank line; ids increase."""
    s = _stream(gw, "filter=NodeStatsUpdated")
    s.read_headers()
    assert s.status == 200
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.headers["cache-control"] == "no-store"
    assert s.headers["x-accel-buffering"] == "no"
    assert s.headers["om-served-by"] == gw.status()["node"]
    _sync(gw, pub, s)
    for i in range(5):
        pub.publish(NodeStatsUpdated(node=f"x{i}", labels={"node": f"x{i}"}))
    got = [e for e in s.events(20, timeout=3) if e.labels.get("node", "").startswith("x")]
    assert [e.data["node"] for e in got] == [f"x{i}" for i in range(5)]
    ids = [e.id for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(e.kind == "NodeStatsUpdated" and e.time.endswith("Z") for e in got)
    first = got[0].raw.decode()
    assert first.startswith(f"event: NodeStatsUpdated\nid: {ids[0]}\ntime: ")
    assert "\ndata: {\"labels\":{\"node\":\"x0\"},\"node\":\"x0\"" in first
    s.close()


def test_sse_client_library_reads_stream(gw, pub):
    """httpx-sse, a client the project does not write, reads kinds, ids and JSON data."""
    received = []
    with _client(gw) as client:
        with httpx_sse.connect_sse(client, "GET", EVENTS, params={"filter": "NodeStatsUpdated", "limit": "3"}) as src:
            assert src.response.status_code == 200
            pub.publish(NodeStatsUpdated(node="a", labels={"node": "a"}))
            for sse in src.iter_sse():
                received.append(sse)
                pub.publish(NodeStatsUpdated(node="a", labels={"node": "a"}))
    assert len(received) == 3
    assert all(e.event == "NodeStatsUpdated" and int(e.id) > 0 for e in received)
    assert json.loads(received[0].data)["labels"] == {"node": "a"}


def test_filters_labels_and_data(gw, pub):
    """Label and data filters select events; several filters are ORed."""
    q = "filter=" + quote('InstanceStatusUpdated,path=svc1,.instance_status.avail="up"') + "&filter=" + quote("NodeStatsUpdated,node=sync")
    s = _stream(gw, q)
    _sync(gw, pub, s)
    pub.publish(_istat("svc1", "down", seq=1))
    pub.publish(_istat("svc2", "up", seq=2))
    pub.publish(_istat("svc1", "up", seq=3))
    got = s.events(1, timeout=5)
    assert [(e.kind, e.data["path"], e.data["instance_status"]["avail"]) for e in got] == [("InstanceStatusUpdated", "svc1", "up")]
    s.close()


def test_limit_and_duration_end_the_stream(gw, pub):
    """limit ends the stream after N events; duration ends it after the given time."""
    s = _stream(gw, "filter=NodeStatsUpdated&limit=2")
    s.read_headers()
    for _ in range(50):
        pub.publish(NodeStatsUpdated(node="l", labels={"node": "l"}))
        if len(s.pending) >= 2 or s.closed:
            break
        s.events(2, timeout=0.1)
    s.events(None, timeout=5)
    assert s.closed, "stream not closed after limit"
    t0 = time.monotonic()
    d = _stream(gw, "filter=NodeStatsUpdated&duration=1s")
    d.events(None, timeout=10)
    assert d.closed and 0.9 <= time.monotonic() - t0 < 5


def test_keepalive_comments_on_idle_stream(gw):
    """An idle stream receives comment lines at the keep-alive interval."""
    s = _stream(gw, "filter=ObjectStatusDone")
    s.events(1, timeout=1.5)
    assert s.parser.comments and s.parser.comments[0] == b": keepalive"
    s.close()


def test_replay_sends_state_then_live_without_loss_or_duplicate(gw, pub, zctx):
    """replay=true sends current state (from=cache) then live events, fenced: no loss, no dupe."""
    for i in range(3):
        pub.publish(_istat(f"svc{i}", seq=i))
    pub.publish(_istat("svc0", "down", seq=9))  # supersedes svc0's first status
    with _client(gw) as c:
        wait_for(lambda: {"svc0", "svc1", "svc2"} <= set(
            c.get("/api/cluster/status").json()["cluster"]["node"].get("n1", {}).get("instance", {})),
            timeout=20, what="state in journal")
    # Concurrent publisher: statuses keep coming while the stream starts.
    s = _stream(gw, "replay=true&filter=InstanceStatusUpdated&filter=" + quote("NodeStatsUpdated,node=sync"))
    for i in range(10, 40):
        pub.publish(_istat("svc9", seq=i % 60))
    got = []
    while not any(e.data.get("path") == "svc9" and e.data["instance_status"]["updated_at"].endswith(":39Z")
                  for e in got):
        more = s.events(1, timeout=10)
        assert more, f"stream stalled after {len(got)} events"
        got += more
    cached = [e for e in got if e.labels.get("from") == "cache"]
    assert {"svc0", "svc1", "svc2"} <= {e.data["path"] for e in cached}
    assert next(e for e in cached if e.data["path"] == "svc0").data["instance_status"]["avail"] == "down"
    assert all(e.labels.get("source") == "cache" for e in cached)
    assert len([e for e in cached if e.data["path"] == "svc9"]) <= 1  # compacted: at most the latest
    # The fence: svc9 statuses were published while the stream started. Whatever the snapshot
    # held (its latest, or none), live events continue from exactly the next one, to the end.
    seq = lambda e: int(e.data["instance_status"]["updated_at"][17:19])  # noqa: E731
    cached9 = [seq(e) for e in cached if e.data["path"] == "svc9"]
    live9 = [seq(e) for e in got if e.labels.get("from") != "cache" and e.data["path"] == "svc9"]
    start = cached9[0] + 1 if cached9 else 10
    assert live9 == list(range(start, 40))
    ids = [e.id for e in got]
    assert len(ids) == len(set(ids))
    s.close()


def test_resume_inside_ring_loses_and_duplicates_nothing(gw, pub):
    """Resuming with Last-Event-ID inside the ring gives exactly the events missed."""
    s = _stream(gw, "filter=NodeStatsUpdated")
    _sync(gw, pub, s)
    for i in range(5):
        pub.publish(NodeStatsUpdated(node=f"a{i}", labels={"node": f"a{i}"}))
    first = s.events(5, timeout=5)
    assert [e.data["node"] for e in first] == [f"a{i}" for i in range(5)]
    s.close()
    for i in range(5, 10):
        pub.publish(NodeStatsUpdated(node=f"a{i}", labels={"node": f"a{i}"}))
    r = _stream(gw, "filter=NodeStatsUpdated", headers={"Last-Event-ID": str(first[-1].id)})
    got = r.events(5, timeout=5)
    assert [e.data["node"] for e in got] == [f"a{i}" for i in range(5, 10)]
    assert got[0].id > first[-1].id
    # the query parameter works too, for clients that cannot set headers
    q = _stream(gw, f"filter=NodeStatsUpdated&last_event_id={first[-1].id}")
    assert [e.data["node"] for e in q.events(5, timeout=5)] == [f"a{i}" for i in range(5, 10)]
    r.close()
    q.close()


def test_resume_outside_ring_gets_gap_then_replay(gw, pub):
    """A resume older than the ring gets a SubscriptionError gap event (no id), then the state."""
    pub.publish(_istat("svc1", seq=1))
    s = _stream(gw, "filter=NodeStatsUpdated")
    _sync(gw, pub, s)
    pub.publish(NodeStatsUpdated(node="old", labels={"node": "old"}))
    old = s.events(1, timeout=5)[0]
    s.close()
    for i in range(80):  # ring_size is 50
        pub.publish(NodeStatsUpdated(node=f"f{i}", labels={"node": f"f{i}"}))
    with _client(gw) as c:
        wait_for(lambda: "omd_gateway_events_in_total" in c.get("/metrics").text, what="metrics")
    r = _stream(gw, "filter=InstanceStatusUpdated", headers={"Last-Event-ID": str(old.id)})
    got = r.events(2, timeout=5)
    assert got[0].kind == "SubscriptionError" and got[0].id is None
    assert got[0].data["gap_after"] == old.id and "not available" in got[0].data["error"]
    assert got[1].kind == "InstanceStatusUpdated" and got[1].labels["from"] == "cache"
    r.close()


def test_gateway_kill_9_loses_no_event(gw, pub):
    """kill -9 of the gateway: events published meanwhile are served on resume (journal kept them)."""
    s = _stream(gw, "filter=NodeStatsUpdated")
    _sync(gw, pub, s)
    pub.publish(NodeStatsUpdated(node="k0", labels={"node": "k0"}))
    last = s.events(1, timeout=5)[-1]
    old = gw.subsystem_pid("gateway")
    os.kill(old, signal.SIGKILL)
    for i in range(1, 6):
        pub.publish(NodeStatsUpdated(node=f"k{i}", labels={"node": f"k{i}"}))
    wait_for(lambda: gw.status()["subsystems"]["gateway"]["pid"] not in (0, old), what="gateway restart")
    _wait_api(gw)
    r = _stream(gw, "filter=NodeStatsUpdated", headers={"Last-Event-ID": str(last.id)})
    got = [e for e in r.events(5, timeout=5)]
    assert [e.data["node"] for e in got] == [f"k{i}" for i in range(1, 6)]
    r.close()


def test_journal_restart_resume_is_an_explicit_gap(gw, pub):
    """After the journal restarts, an old Last-Event-ID gets a gap event and a replay."""
    pub.publish(_istat("svc1", seq=1))
    s = _stream(gw, "filter=InstanceStatusUpdated&replay=true")
    last = s.events(1, timeout=5)[-1]
    s.close()
    old = gw.subsystem_pid("journal")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: gw.status()["subsystems"]["journal"]["pid"] not in (0, old), what="journal restart")
    def resumed():
        r = _stream(gw, "filter=InstanceStatusUpdated", headers={"Last-Event-ID": str(last.id)})
        got = r.events(2, timeout=3)
        r.close()
        return got if len(got) == 2 else None
    got = wait_for(resumed, timeout=15, what="resume after journal restart")
    assert got[0].kind == "SubscriptionError" and got[1].labels.get("from") == "cache"
    assert got[1].data["path"] == "svc1"  # state survived the journal restart (persisted)


def test_client_subscribed_and_unsubscribed_are_published(gw, zctx):
    """Each stream publishes ClientSubscribed at start and ClientUnsubscribed at end."""
    sub = ready_subscriber(zctx, gw, [topic_prefix("ClientSubscribed"), topic_prefix("ClientUnsubscribed")])
    s = _stream(gw, "filter=NodeStatsUpdated&limit=1&duration=1")
    s.events(None, timeout=5)
    kinds = []
    while len(kinds) < 2:
        msg = sub.recv(timeout=5)
        assert msg is not None
        kinds.append((msg.kind, msg.data_obj()["name"], msg.labels))
    assert [k for k, _, _ in kinds] == ["ClientSubscribed", "ClientUnsubscribed"]
    assert kinds[0][1].startswith("api.get_daemon_event from ") and "filters: [NodeStatsUpdated]" in kinds[0][1]
    assert kinds[0][2]["origin"] == "api"
    sub.close()


def test_bad_parameters_are_400_problems(gw):
    """Malformed parameters and filters are answered 400 with a JSON problem naming the mistake."""
    with _client(gw) as c:
        for query, needle in [
            ({"limit": "-1"}, "limit"), ({"limit": "x"}, "limit"), ({"duration": "soon"}, "duration"),
            ({"replay": "maybe"}, "replay"), ({"filter": "InstanceStatusUpdate"}, "InstanceStatusUpdated"),
        ]:
            r = c.get(EVENTS, params=query)
            assert r.status_code == 400, query
            body = r.json()
            assert body["status"] == 400 and body["title"] == "Bad Request" and needle in body["detail"]
            assert r.headers["content-type"].startswith("application/problem+json")
        r = c.get("/api/node/name/othernode/daemon/event")
        assert r.status_code == 400 and "Invalid nodename" in r.json()["detail"]
        r = c.get(EVENTS, headers={"Last-Event-ID": "abc"})
        assert r.status_code == 400
        assert c.get("/nope").status_code == 404 and c.get("/nope").json()["status"] == 404


def test_post_event_validates_and_publishes(gw):
    """POST /api/node/event publishes a valid event and names the field at fault otherwise."""
    with _client(gw) as c:
        s = _stream(gw, "filter=NodeStatusUpdated")
        s.read_headers()
        body = {"kind": "NodeStatusUpdated", "labels": {"node": "n7"}, "data": {"node": "n7", "node_status": {"agent": "x"}}}
        def posted():
            assert c.post("/api/node/event", json=body).status_code == 200
            return s.events(1, timeout=0.5)
        got = wait_for(posted, what="posted event on stream")
        assert got[0].data["node_status"]["agent"] == "x" and got[0].labels == {"node": "n7"}
        r = c.post("/api/node/event", json={"kind": "NodeStatusUpdate", "data": {}})
        assert r.status_code == 400 and "NodeStatusUpdated" in r.json()["detail"]
        r = c.post("/api/node/event", json={"kind": "NodeStatusUpdated", "data": {"node_status": {"agent": 5}}})
        assert r.status_code == 400 and r.json()["field"] == "data.node_status.agent"
        r = c.post("/api/node/event", content=b"{not json")
        assert r.status_code == 400 and "JSON" in r.json()["detail"]
        r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated", "data": {"nope": 1}})
        assert r.status_code == 400 and "nope" in r.json()["detail"]
        s.close()


def test_cluster_status_dataset(gw, pub):
    """GET /api/cluster/status assembles node, instance and object state from the events."""
    ns = NodeStatusUpdated(node="n1", labels={"node": "n1"})
    ns.node_status.agent = "omd-test"
    pub.publish(ns)
    pub.publish(_istat("ns1/svc/web", seq=1))
    os_ = ObjectStatusUpdated(path="ns1/svc/web", node="n1", labels={"path": "ns1/svc/web", "node": "n1", "namespace": "ns1"})
    os_.object_status.avail = "up"
    pub.publish(os_)
    with _client(gw) as c:
        def ready():
            data = c.get("/api/cluster/status").json()["cluster"]
            return data if data["object"] else None
        cluster = wait_for(ready, what="dataset")
    assert cluster["node"]["n1"]["status"]["agent"] == "omd-test"
    assert cluster["node"]["n1"]["instance"]["ns1/svc/web"]["status"]["avail"] == "up"
    assert cluster["object"]["ns1/svc/web"]["avail"] == "up"


def test_metrics_exposition(gw, pub):
    """GET /metrics exposes events in/out per kind, streams, drops, gaps and resumes."""
    s = _stream(gw, "filter=NodeStatsUpdated")
    _sync(gw, pub, s)
    with _client(gw) as c:
        text = c.get("/metrics").text
    for name in ("omd_gateway_events_in_total{kind=\"NodeStatsUpdated\"}", "omd_gateway_events_out_total{kind=\"NodeStatsUpdated\"}",
                 "omd_gateway_streams 1.0", "omd_gateway_queue_depth_max", "omd_gateway_gaps_total"):
        assert name in text, name
    s.close()


def test_openapi_is_served_and_kept_in_docs(gw):
    """The served OpenAPI document is docs/openapi.json."""
    with _client(gw) as c:
        served = c.get("/api/openapi.json").json()
    assert served == json.loads((REPO / "docs" / "openapi.json").read_text())
    assert "/api/node/name/{nodename}/daemon/event" in served["paths"]


def test_stalled_client_does_not_delay_others(gw, pub, zctx):
    """A client that stops reading is cut off with a gap; others get every event meanwhile."""
    thresholds = ready_subscriber(zctx, gw, [topic_prefix("SubscriptionQueueThreshold")])
    stalled = _stream(gw, "filter=NodeStatsUpdated", rcvbuf=4096)
    stalled.read_headers()
    good = _stream(gw, "filter=NodeStatsUpdated")
    _sync(gw, pub, good)
    n = 6000  # well past stream_queue_size (1000) plus what the socket buffers absorb
    got: list = []

    def read():
        for e in good.iter_events(timeout=60):
            got.append(e)
            if len(got) >= n:
                return

    reader = threading.Thread(target=read)
    reader.start()  # the good client reads while the flood goes on; the stalled one never does
    for i in range(n):
        if i % 250 == 0:  # pace the flood to the good reader, not to the stalled one
            wait_for(lambda: len(got) >= i - 500, timeout=30, what="good reader progress")
        ev = NodeStatsUpdated(node=f"s{i}", labels={"node": "flood"})
        ev.node_stats.score = i
        pub.publish(ev)
    reader.join(70)
    assert [e.kind for e in got if e.kind != "NodeStatsUpdated"] == []
    assert [e.data["node_stats"]["score"] for e in got] == list(range(n))
    with _client(gw) as c:
        wait_for(lambda: 'omd_gateway_drops_total{cause="overflow"} 1.0' in c.get("/metrics").text, what="overflow drop")
    levels = []
    while (msg := thresholds.recv(timeout=2)) is not None:
        levels.append((msg.labels["level"], msg.data_obj()["to"], msg.data_obj()["limit"]))
    assert ("warn", 90, 1000) in levels  # the stalled stream crossed 90% before overflowing
    thresholds.close()
    good.close()
    stalled.close()


def test_tcp_tls_tokens_roles_and_namespaces(daemon_factory, root, zctx):
    """Over TCP+TLS: 401 without or with a bad token; roles and namespace grants apply."""
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = _free_port()
    d = daemon_factory(f"""
[daemon]
watchdog_interval = 0.5
[gateway]
tcp_listen = "127.0.0.1:{port}"
tls_cert = "{cert}"
tls_key = "{key}"
tokens = [
  {{name = "adm", token = "admintoken", role = "admin"}},
  {{name = "ns1ops", token = "ns1token", role = "operator", namespaces = ["ns1"]}},
]
""")
    _wait_api(d)
    base = f"https://127.0.0.1:{port}"
    with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as c:
        r = c.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["title"] == "Unauthorized"
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ops = {"Authorization": "Bearer ns1token"}
        adm = {"Authorization": "Bearer admintoken"}
        r = c.post("/api/node/event", json={"kind": "InstanceStatusPost", "data": {}}, headers=ops)
        assert r.status_code == 403 and "admin role" in r.json()["detail"]
        r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated", "data": {}}, headers=adm)
        assert r.status_code == 403 and "root role" in r.json()["detail"]  # nmon's truth (docs/events.md)
        # the operator on ns1 sees ns1 events and events without namespace, never ns2's
        seen = []
        pub = Publisher(zctx, d.endpoint("in"), "n1", "test")
        assert pub.wait_ready(10)
        with httpx_sse.connect_sse(c, "GET", EVENTS, params={"filter": ["InstanceStatusUpdated", "NodeStatsUpdated"]},
                                   headers=ops) as src:
            def post_all():
                for path in ("ns2/svc/b", "ns1/svc/a"):
                    pub.publish(_istat(path))
                pub.publish(NodeStatsUpdated(node="zz", labels={"node": "zz"}))
            post_all()
            for sse in src.iter_sse():
                data = json.loads(sse.data)
                seen.append((sse.event, data.get("path") or data.get("node")))
                if sse.event == "NodeStatsUpdated" and data["node"] == "zz":
                    if ("InstanceStatusUpdated", "ns1/svc/a") in seen:
                        break
                    post_all()
        pub.close(linger_ms=0)
        assert ("InstanceStatusUpdated", "ns1/svc/a") in seen
        assert all(p != "ns2/svc/b" for _, p in seen)


def test_client_going_away_frees_its_stream(gw):
    """A client that disconnects is forgotten (at the latest at the next keep-alive write)."""
    s = _stream(gw, "filter=ObjectStatusDone")
    s.read_headers()
    with _client(gw) as c:
        wait_for(lambda: "omd_gateway_streams 1.0" in c.get("/metrics").text, what="stream open")
        s.close()
        wait_for(lambda: "omd_gateway_streams 0.0" in c.get("/metrics").text, what="stream freed")


def test_daemon_ctl_restarts_one_subsystem(gw, zctx):
    """POST .../subsystem/nmon/action/restart publishes DaemonCtl; the supervisor restarts nmon."""
    sub = ready_subscriber(zctx, gw, [topic_prefix("DaemonCtl")])
    old = gw.subsystem_pid("nmon")
    with _client(gw) as c:
        r = c.post("/api/daemon/subsystem/nmon/action/restart")
        assert r.status_code == 200, r.text
        assert c.post("/api/daemon/subsystem/nope/action/restart").status_code == 404
    msg = sub.recv(timeout=5)
    assert msg is not None and msg.data_obj()["component"] == "nmon" and msg.labels["origin"] == "api"
    wait_for(lambda: gw.status()["subsystems"]["nmon"]["pid"] not in (0, old)
             and gw.status()["subsystems"]["nmon"]["state"] == "running", what="nmon restarted")
    assert gw.status()["subsystems"]["gateway"]["restarts"] == 0
    sub.close()
