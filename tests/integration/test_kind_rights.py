"""Publish rights and decoding of kinds on a live daemon: who may post which kind through
POST /api/node/event, and fields a newer version adds, tolerated on the wire, refused in API input."""

from __future__ import annotations

import json
import time

import httpx

from omd.model import events
from omd.model.wire import topic_prefix
from omd.sockets import Publisher
from tests.helpers import api_client, free_port, ready_subscriber, wait_for
from tests.integration.test_sources_objects import BASE, wait_sources
from tests.sse import RawStream

EVENTS = "/api/node/name/localhost/daemon/event"
TOKENS = {"guest": "guesttoken", "operator": "operatortoken", "admin": "admintoken"}


_free_port = free_port
_unix_client = api_client  # api.sock: the daemon's own uid, so root


def _wait_api(client: httpx.Client, headers=None) -> None:
    def up():
        try:
            return client.get("/api/openapi.json", headers=headers).status_code == 200
        except httpx.TransportError:
            return False
    wait_for(up, timeout=20, what="gateway API")


# One kind of every class of rights, with data that fits it (docs/events.md, "Who may publish").
SAMPLES = {
    "control": ("DaemonCtl", {}, {"component": "nmon", "action": "restart"}),
    "never on the bus": ("SubscriptionError", {}, {"id": "x", "name": "y", "error": "z"}),
    "owned by a subsystem": ("NodeStatsUpdated", {"node": "n1"}, {"node": "n1", "node_stats": {"score": 7}}),
    "owned by the heartbeats": ("HeartbeatAlive", {"node": "n1", "hb": "hb#1"}, {"node": "n2", "hb_id": "hb#1.rx"}),
    "input a subsystem checks": ("InstanceStatusPost", {"namespace": "root", "path": "svc1", "node": "n1"},
                                 {"path": "svc1", "node": "n1", "instance_status": {"avail": "up"}}),
}


def test_post_event_obeys_each_kinds_api_role(daemon_factory, zctx):
    """Every role (guest, operator, admin by TCP token, root on api.sock) posting one kind of every class gets exactly the declared rights; an admin's DaemonCtl is refused and restarts nothing."""
    port = _free_port()
    d = daemon_factory(BASE + f"""[gateway]
tcp_listen = "127.0.0.1:{port}"
tokens = [
  {{name = "g", token = "guesttoken", role = "guest"}},
  {{name = "o", token = "operatortoken", role = "operator"}},
  {{name = "a", token = "admintoken", role = "admin"}},
  {{name = "a1", token = "ns1admintoken", role = "admin", namespaces = ["ns1"]}},
]
""")
    # the declared classes this test samples, so that a change of facts is a visible change here
    assert [events.KINDS[kind].api for kind, _, _ in SAMPLES.values()] == [None, None, "root", "root", "admin"]
    ctl = ready_subscriber(zctx, d, [topic_prefix("DaemonCtl")])
    nmon_pid = d.subsystem_pid("nmon")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as tcp, _unix_client(d) as unix:
        _wait_api(unix)
        _wait_api(tcp, {"Authorization": "Bearer admintoken"})
        clients = {role: (tcp, {"Authorization": f"Bearer {token}"}) for role, token in TOKENS.items()}
        clients["root"] = (unix, {})
        for klass, (kind, labels, data) in SAMPLES.items():
            info = events.KINDS[kind]
            for role, (client, headers) in clients.items():
                r = client.post("/api/node/event", headers=headers, json={"kind": kind, "labels": labels, "data": data})
                allowed = info.api is not None and events.ROLES.index(role) >= events.ROLES.index(info.api)
                assert r.status_code == (200 if allowed else 403), (klass, kind, role, r.text)
                if not allowed:
                    problem = r.json()
                    assert kind in problem["detail"] and problem["kind"] == kind and problem["role"] == info.api
                    assert all(p in problem["detail"] for p in info.publishers), problem
                    assert (info.api or "never") in problem["detail"], problem

        # the regression: an admin token cannot restart a subsystem through a raw DaemonCtl
        adm = {"Authorization": "Bearer admintoken"}
        r = tcp.post("/api/node/event", headers=adm, json={"kind": "DaemonCtl",
                                                            "data": {"component": "nmon", "action": "restart"}})
        assert r.status_code == 403 and "never" in r.json()["detail"] and "gateway" in r.json()["detail"]
        assert tcp.post("/api/daemon/subsystem/nmon/action/restart", headers=adm).status_code == 403

        # a non-root event stays in the caller's namespaces, by labels and by the data's path
        ns1 = {"Authorization": "Bearer ns1admintoken"}

        def post_status(labels, path):
            return tcp.post("/api/node/event", headers=ns1, json={
                "kind": "InstanceStatusPost", "labels": labels,
                "data": {"path": path, "node": "n1", "instance_status": {"avail": "up"}}})
        assert post_status({"namespace": "ns1", "path": "ns1/svc/a"}, "ns1/svc/a").status_code == 200
        assert post_status({"namespace": "ns2", "path": "ns2/svc/b"}, "ns2/svc/b").status_code == 403
        r = post_status({"namespace": "ns1"}, "ns2/svc/b")
        assert r.status_code == 400 and r.json()["field"] == "labels.namespace"
        assert post_status({}, "ns2/svc/b").status_code == 400
        assert post_status({"namespace": "ns1", "path": "ns2/svc/b"}, "ns1/svc/a").status_code == 400
        # ... and on this node: only root may label an event with another node
        r = post_status({"namespace": "ns1", "path": "ns1/svc/a", "node": "n2"}, "ns1/svc/a")
        assert r.status_code == 403 and r.json()["field"] == "labels.node", r.text

        # a restart the root asks for is the first DaemonCtl on the bus: none of the refused ones was published
        old_scheduler = d.subsystem_pid("scheduler")
        assert unix.post("/api/daemon/subsystem/scheduler/action/restart").status_code == 200
    msg = ctl.recv(timeout=10)
    assert msg is not None and msg.data_obj()["component"] == "scheduler", msg
    wait_for(lambda: d.subsystem_pid("scheduler") != old_scheduler, timeout=20, what="scheduler restarted")
    assert d.subsystem_pid("nmon") == nmon_pid
    assert ctl.recv(timeout=0.2) is None
    ctl.close()


def test_unknown_fields_pass_the_wire_and_are_refused_in_api_input(daemon_factory, zctx):
    """An event with a field this version does not know reaches SSE clients with it and istat still acts on it; the API refuses such a field naming it."""
    d = daemon_factory(BASE)
    with _unix_client(d) as c:
        _wait_api(c)
        r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated", "data": {"node": "n1", "future_field": 1}})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "data.future_field" and "future_field" in r.json()["detail"]
        r = c.post("/api/node/event", json={"kind": "NodeStatsUpdated",  # nested values stay lenient
                                            "data": {"node": "n1", "node_stats": {"score": 3, "future": 1}}})
        assert r.status_code == 200, r.text
    wait_sources(zctx, d)
    stream = RawStream(str(d.paths.api_socket), EVENTS + "?filter=InstanceStatusPost&filter=InstanceStatusUpdated")
    pub = Publisher(zctx, d.endpoint("in"), "n1", "test")
    try:
        stream.read_headers()
        assert stream.status == 200
        assert pub.wait_ready(10)
        labels = {"namespace": "root", "path": "svc1", "node": "n1", "origin": "api"}
        data = json.dumps({"labels": labels, "path": "svc1", "node": "n1", "future_field": {"x": [1]},
                           "instance_status": {"avail": "up", "overall": "up", "provisioned": "true",
                                               "future_nested": 2}}, separators=(",", ":")).encode()
        seen = []
        deadline = time.monotonic() + 15
        while not any(e.kind == "InstanceStatusUpdated" for e in seen):
            assert time.monotonic() < deadline, f"istat never acted on the post; stream saw {seen}"
            if not any(e.kind == "InstanceStatusPost" for e in seen):  # until the stream is subscribed
                assert pub.publish_raw("InstanceStatusPost", labels, data)
            seen += stream.events(1, timeout=0.5)
        post = next(e for e in seen if e.kind == "InstanceStatusPost")
        assert post.data["future_field"] == {"x": [1]} and post.data["instance_status"]["future_nested"] == 2
        assert post.raw.count(b'"future_field":{"x":[1]}') == 1  # the published bytes, unchanged
        updated = next(e for e in seen if e.kind == "InstanceStatusUpdated")
        assert updated.data["path"] == "svc1" and updated.data["instance_status"]["avail"] == "up"
        assert "future_field" not in updated.data  # istat publishes what it knows
    finally:
        pub.close(linger_ms=0)
        stream.close()
