"""Namespaces that hold (the hardening issue, items 1 and 4), on a live daemon with namespaced tokens:
an event's namespace is derived from its labels, topic and data, and kinds about the daemon
itself (Log, Client*, Exec*) never reach a reader limited to some namespaces."""

from __future__ import annotations

import json
import socket

import httpx

from omd.subsystems.gateway.streams import PRIVATE_KINDS
from omd.subsystems.journal.protocol import JournalClient
from tests.helpers import api_client, free_port, wait_for
from tests.integration.test_journal_refuses import _raw_pub, _send
from tests.integration.test_sources_objects import BASE, wait_sources
from tests.sse import RawStream, StrictParser

EVENTS = "/api/node/name/_/daemon/event"


class TcpStream(RawStream):
    """RawStream over the TCP listener, with a bearer token."""

    def __init__(self, port: int, target: str, token: str, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        lines = [f"GET {target} HTTP/1.1", "Host: omd", f"Authorization: Bearer {token}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.parser = StrictParser()
        self.pending = []
        self.closed = False


def _config(port: int) -> str:
    return BASE + f"""[gateway]
tcp_listen = "127.0.0.1:{port}"
tokens = [
  {{name = "a1", token = "ns1admintoken", role = "admin", namespaces = ["ns1"]}},
  {{name = "g1", token = "ns1guesttoken", role = "guest", namespaces = ["ns1"]}},
  {{name = "o2", token = "ns2operatortoken", role = "operator", namespaces = ["ns2"]}},
]
"""


def _objects(d) -> None:
    for ns, name in (("ns1", "a"), ("ns1", "marker"), ("ns2", "b")):
        conf = d.paths.etc / "namespaces" / ns / "svc" / f"{name}.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("[DEFAULT]\n")


def _wait_api(client: httpx.Client, headers=None) -> None:
    def up():
        try:
            return client.get("/api/openapi.json", headers=headers).status_code == 200
        except httpx.TransportError:
            return False
    wait_for(up, timeout=20, what="gateway API")


def _until(stream: RawStream, kind: str, path: str) -> list:
    seen = []
    for ev in stream.iter_events(timeout=15):
        seen.append(ev)
        if ev.kind == kind and (ev.data or {}).get("path") == path:
            return seen
    raise AssertionError(f"{kind} {path} never arrived; got {[e.kind for e in seen]}")


def _ns2_avail(api: httpx.Client) -> str:
    text = api.get("/api/cluster/status").text
    assert "FORGED" not in text, text
    instance = json.loads(text)["cluster"]["node"]["n1"]["instance"]
    return instance.get("ns2/svc/b", {}).get("status", {}).get("avail", "")


def test_a_namespaced_admin_cannot_forge_another_namespaces_state(daemon_factory, zctx):
    """An ns1 admin token is refused for an event about ns2 however the labels say it (no namespace
    label, a lying one, data naming another path) and for an event with no namespace at all; a bus
    writer's InstanceStatusUpdated labelled path=ns2/svc/b without namespace and ObjectDeleted labelled
    ns1 for ns2/svc/b are refused by the journal: root and the ns2 operator still read ns2's own status."""
    port = free_port()
    d = daemon_factory(_config(port), start=False)
    _objects(d)
    d.start()
    ns1 = {"Authorization": "Bearer ns1admintoken"}
    ns2 = {"Authorization": "Bearer ns2operatortoken"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as tcp, api_client(d) as root:
        _wait_api(root)
        _wait_api(tcp, ns1)
        wait_sources(zctx, d)
        r = tcp.post("/api/instance/status", headers=ns2, json={"path": "ns2/svc/b", "instance_status": {"avail": "up"}})
        assert r.status_code == 200, r.text
        wait_for(lambda: _ns2_avail(root) == "up", timeout=15, what="ns2 status")

        def post(kind, labels, data):
            return tcp.post("/api/node/event", headers=ns1, json={"kind": kind, "labels": labels, "data": data})
        forged = {"node": "n1", "instance_status": {"avail": "FORGED-BY-NS1-ADMIN"}}
        for labels, path, status, field in (
                ({"path": "ns2/svc/b"}, "ns2/svc/b", 400, "labels.namespace"),
                ({"path": "ns2/svc/b"}, "", 400, "labels.namespace"),
                ({"namespace": "ns1", "path": "ns1/svc/a"}, "ns2/svc/b", 400, "labels.path"),
                ({"namespace": "ns2", "path": "ns2/svc/b"}, "ns2/svc/b", 403, None),
                ({}, "", 403, "labels.namespace")):  # no namespace: every namespace's readers
            r = post("InstanceStatusPost", labels, {"path": path, **forged})
            assert r.status_code == status, (labels, path, r.text)
            # the field named is one of the disagreeing ones (which one depends on the order
            # the gateway reads them in)
            assert field is None or r.json().get("field") in ("labels.namespace", "labels.path", "data.path"), r.text
        r = post("ObjectDeleted", {"namespace": "ns1", "path": "ns2/svc/b"}, {"path": "ns2/svc/b", "node": "n1"})
        assert r.status_code in (400, 403), r.text
        # a consistent ns1 event is still accepted
        r = post("InstanceStatusPost", {"namespace": "ns1", "path": "ns1/svc/a"}, {"path": "ns1/svc/a", **forged})
        assert r.status_code == 200, r.text

        # the same forgeries from a bus-in writer: refused by the journal, whoever published them
        stream = RawStream(str(d.paths.api_socket), EVENTS + "?filter=InstanceStatusUpdated&filter=ObjectDeleted")
        stream.read_headers()
        sock = _raw_pub(zctx, d)
        try:
            labels = {"path": "ns2/svc/b", "node": "n1"}
            _send(sock, "InstanceStatusUpdated", labels, json.dumps(
                {"labels": labels, "path": "ns2/svc/b", **forged}).encode(), seq=1)
            labels = {"namespace": "ns1", "path": "ns2/svc/b", "node": "n1"}
            _send(sock, "ObjectDeleted", labels, json.dumps(
                {"labels": labels, "path": "ns2/svc/b", "node": "n1"}).encode(), seq=2)
            labels = {"namespace": "ns1", "path": "ns1/svc/marker", "node": "n1"}
            _send(sock, "InstanceStatusUpdated", labels, json.dumps(
                {"labels": labels, "path": "ns1/svc/marker", "node": "n1",
                 "instance_status": {"avail": "up"}}).encode(), seq=3)
            seen = _until(stream, "InstanceStatusUpdated", "ns1/svc/marker")
        finally:
            sock.close()
            stream.close()
        assert not [e for e in seen if b"FORGED" in e.raw or e.kind == "ObjectDeleted"], seen
        client = JournalClient(zctx, d.paths)
        refused = client.stats()["refused"]
        client.close()
        assert refused == {"labels": 2}, refused
        assert _ns2_avail(root) == "up"
        cluster = tcp.get("/api/cluster/status", headers=ns2).json()
        assert cluster["cluster"]["node"]["n1"]["instance"]["ns2/svc/b"]["status"]["avail"] == "up"


def test_a_namespaced_guest_never_receives_the_daemons_private_kinds(daemon_factory, zctx):
    """An ns1 guest's live stream and its resumed replay carry no Log (naming ns2 objects), no
    ClientSubscribed/ClientUnsubscribed (other users' filters and addresses) and no Exec* event,
    while root's stream has them; the guest still gets ns1's events."""
    port = free_port()
    d = daemon_factory(_config(port), start=False)
    _objects(d)
    d.start()
    ns1 = {"Authorization": "Bearer ns1admintoken"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as tcp, api_client(d) as root:
        _wait_api(root)
        _wait_api(tcp, ns1)
        guest = TcpStream(port, EVENTS, "ns1guesttoken")
        guest.read_headers()
        assert guest.status == 200
        rootstream = RawStream(str(d.paths.api_socket), EVENTS)
        rootstream.read_headers()
        try:
            other = RawStream(str(d.paths.api_socket), EVENTS + "?filter=path=ns2/svc/b&duration=0.2s")
            other.events(None, timeout=5)  # ClientSubscribed and ClientUnsubscribed naming its filter
            other.close()
            for kind, data in (("Log", {"message": "reading /etc/omd/namespaces/ns2/svc/b.conf", "level": "info"}),
                               ("ExecSuccess", {"command": "/usr/bin/ns2-secret", "node": "n1"})):
                r = root.post("/api/node/event", json={"kind": kind, "labels": {}, "data": data})
                assert r.status_code == 200, r.text
            marker = {"namespace": "ns1", "path": "ns1/svc/marker"}
            r = tcp.post("/api/node/event", headers=ns1, json={"kind": "InstanceStatusPost", "labels": marker, "data": {
                "path": "ns1/svc/marker", "node": "n1", "instance_status": {"avail": "up"}}})
            assert r.status_code == 200, r.text
            seen_root = _until(rootstream, "InstanceStatusPost", "ns1/svc/marker")
            assert {"Log", "ExecSuccess", "ClientSubscribed", "ClientUnsubscribed"} <= {e.kind for e in seen_root}
            seen = _until(guest, "InstanceStatusPost", "ns1/svc/marker")
            assert not [e.kind for e in seen if e.kind in PRIVATE_KINDS], [e.kind for e in seen]
            assert not [e for e in seen if b"ns2" in e.raw], seen
        finally:
            guest.close()
            rootstream.close()
        # resumed from the first id: the ring's replay is held to the same rule
        resumed = TcpStream(port, EVENTS, "ns1guesttoken", {"Last-Event-ID": "1"})
        try:
            seen = _until(resumed, "InstanceStatusPost", "ns1/svc/marker")
        finally:
            resumed.close()
        assert not [e.kind for e in seen if e.kind in PRIVATE_KINDS], [e.kind for e in seen]
