"""POST /api/instance/status quotas on a live daemon: sizes ([gateway] instance_status_max_size,
instance_status_max_encap) and the object's existence on this node."""

from __future__ import annotations

from tests.helpers import api_client, wait_for


def _up(c) -> bool:
    try:
        return c.get("/api/openapi.json").status_code == 200
    except Exception:
        return False


def test_oversized_statuses_and_unknown_objects_are_refused(daemon):
    (daemon.paths.etc / "svc1.conf").write_text("[DEFAULT]\nnodes = *\n")
    with api_client(daemon) as c:
        wait_for(lambda: _up(c), timeout=20, what="gateway API")

        def post(path, status):
            return c.post("/api/instance/status", json={"path": path, "instance_status": status})

        r = post("svc1", {"avail": "up", "resources": {f"fs#{i}": {"status": "up", "label": "x" * 100}
                                                      for i in range(1000)}})
        assert r.status_code == 413 and r.json()["field"] == "instance_status", r.text
        r = post("svc1", {"avail": "up", "encap": {f"c{i}": {} for i in range(65)}})
        assert r.status_code == 413 and r.json()["field"] == "instance_status.encap", r.text
        r = post("nosuchsvc", {"avail": "up"})
        assert r.status_code == 404 and r.json()["field"] == "path", r.text
        r = post("svc1", {"avail": "up", "encap": {f"c{i}": {} for i in range(64)}})
        assert r.status_code == 200, r.text
