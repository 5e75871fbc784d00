"""GET /metrics: prometheus_client's exposition, route and status as separate labels, and the
daemon-level families (subsystem states and restarts, journal ids and sizes)."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import api_client, wait_for


def _samples(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float | None:
    for s in samples.get(name, []):
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def _scrape(c: Any) -> dict[str, list[Any]]:
    r = c.get("/metrics")
    assert r.status_code == 200
    return _samples(r.text)


def test_metrics_labels_content_type_and_daemon_families(daemon_factory):
    d = daemon_factory()
    with api_client(d) as c:
        wait_for(lambda: c.get("/api/cluster/status").status_code == 200, timeout=30, what="API up")
        assert c.get("/api/nosuch").status_code == 404
        r = c.get("/metrics")
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        s = _samples(r.text)
        assert _value(s, "omd_gateway_requests_total", route="/api/cluster/status", status="200") >= 1
        assert _value(s, "omd_gateway_requests_total", route="unmatched", status="404") == 1
        assert all(" " not in x.labels["route"] for x in s["omd_gateway_requests_total"])

        om = c.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.rstrip().endswith("# EOF")

        def all_running() -> dict[str, list[Any]] | None:
            x = _scrape(c)
            return x if all(_value(x, "omd_subsystem_up", subsystem=n) == 1 for n in ("bus", "journal", "gateway")) else None

        s = wait_for(all_running, timeout=30, what="subsystems running in the metrics")
        for name in ("bus", "journal", "gateway"):
            assert _value(s, "omd_subsystem_up", subsystem=name) == 1, name
            assert _value(s, "omd_subsystem_state", subsystem=name, state="running") == 1, name
            assert _value(s, "omd_subsystem_restarts_total", subsystem=name) == 0, name
        assert [x.labels["status"] for x in s["omd_daemon_status"]] in (["started"], ["starting"], ["degraded"])
        assert _value(s, "omd_journal_up") == 1
        last = _value(s, "omd_journal_last_id")
        assert last is not None and last >= 1
        assert _value(s, "omd_journal_ring") >= 1 and _value(s, "omd_journal_state") >= 1
        assert _value(s, "omd_journal_events_total") >= 1

        # A subsystem that dies is restarted by the supervisor: the counter shows it.
        victim = "nmon"
        pid = json.loads(d.paths.status_file.read_text())["subsystems"][victim]["pid"]
        assert pid > 0
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (_value(_scrape(c), "omd_subsystem_restarts_total", subsystem=victim) or 0) >= 1,
                 timeout=30, what="restart counted")
        wait_for(lambda: _value(_scrape(c), "omd_journal_last_id") > last, timeout=30, what="journal ids move")
