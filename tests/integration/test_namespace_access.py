"""Namespace forgery on a live daemon: the namespace an event is shown under is the one its
path says (omd.model.scope), whoever posts it, root included."""

from __future__ import annotations

from tests.helpers import api_client, wait_for


def _up(c) -> bool:
    try:
        return c.get("/api/openapi.json").status_code == 200
    except Exception:
        return False


def test_root_cannot_label_an_object_event_with_another_namespace(daemon):
    """ObjectDeleted labelled namespace ns1 about ns2/svc/b is a 400 naming labels.namespace,
    even from root; a path without a namespace label is labelled with the path's namespace."""
    with api_client(daemon) as c:
        wait_for(lambda: _up(c), timeout=20, what="gateway API")
        r = c.post("/api/node/event", json={"kind": "ObjectDeleted",
                                             "labels": {"namespace": "ns1", "path": "ns2/svc/b"},
                                             "data": {"path": "ns2/svc/b", "node": "n1"}})
        assert r.status_code == 400 and r.json()["field"] == "labels.namespace", r.text
        r = c.post("/api/node/event", json={"kind": "ObjectDeleted", "labels": {"path": "ns1/svc/a"},
                                             "data": {"path": "ns2/svc/b", "node": "n1"}})
        assert r.status_code == 400 and r.json()["field"] == "data.path", r.text
        r = c.post("/api/node/event", json={"kind": "InstanceStatusUpdated", "labels": {"path": "ns2/svc/b"},
                                             "data": {"path": "ns2/svc/b", "node": "n1"}})
        assert r.status_code == 200 and r.json()["labels"]["namespace"] == "ns2", r.text


def _events_until(resp, marker_kind: str, deadline_s: float = 15) -> list[str]:
    """The event kinds read from an SSE response up to and including the first `marker_kind`."""
    import time

    kinds: list[str] = []
    deadline = time.monotonic() + deadline_s
    for line in resp.iter_lines():
        if line.startswith("event:"):
            kinds.append(line.partition(":")[2].strip())
            if kinds[-1] == marker_kind:
                return kinds
        assert time.monotonic() < deadline, f"no {marker_kind} in time, got {kinds}"
    raise AssertionError(f"stream ended before {marker_kind}: {kinds}")


def test_a_namespaced_guest_sees_no_private_kinds_live_or_resumed(daemon_factory):
    """ClientSubscribed (another reader's address and filters) is a private kind: an ns1 guest's
    stream never gets it, live or resumed from the journal with Last-Event-ID."""
    import httpx

    from tests.helpers import free_port
    from tests.integration.test_sources_objects import BASE

    port = free_port()
    d = daemon_factory(BASE + f"""[gateway]
tcp_listen = "127.0.0.1:{port}"
tokens = [{{name = "g1", token = "ns1guesttoken", role = "guest", namespaces = ["ns1"]}}]
""")
    guest = {"Authorization": "Bearer ns1guesttoken"}
    target = "/api/node/name/localhost/daemon/event?filter=ClientSubscribed&filter=InstanceStatusUpdated"
    marker = {"kind": "InstanceStatusUpdated", "labels": {"path": "ns1/svc/a"},
              "data": {"path": "ns1/svc/a", "node": "n1"}}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=guest) as tcp, \
            api_client(d) as unix:
        wait_for(lambda: _up(unix), timeout=20, what="gateway API")
        wait_for(lambda: _up(tcp), timeout=20, what="gateway TCP listener")
        with tcp.stream("GET", target) as resp:
            assert resp.status_code == 200
            # root's own stream makes a ClientSubscribed; a root reader does see it
            with unix.stream("GET", target) as root_resp:
                assert unix.post("/api/node/event", json=marker).status_code == 200
                assert "ClientSubscribed" in _events_until(root_resp, "InstanceStatusUpdated")
            kinds = _events_until(resp, "InstanceStatusUpdated")
        assert "ClientSubscribed" not in kinds, kinds
        with tcp.stream("GET", target, headers={"Last-Event-ID": "0"}) as resp:
            kinds = _events_until(resp, "InstanceStatusUpdated")
        assert "ClientSubscribed" not in kinds, kinds
