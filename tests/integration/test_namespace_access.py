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
