"""Prometheus metrics of the gateway and of the daemon, served on `GET /metrics`.

Hot paths only bump plain counters; a custom collector turns them into metric families at
scrape time, so an event costs a dict increment, not a prometheus_client call. The daemon-level
families come from what the gateway can read at scrape time: the supervisor's status file
(var/run/omd/status.json: daemon status, each subsystem's state and restarts) and the
journal's `stats` reply (ids, ring and state sizes, counters), fetched by `refresh` just
before the exposition. prometheus_client encodes it (`choose_encoder`: the text format 0.0.4,
or OpenMetrics when the scraper asks for it). Every family is listed in docs/api.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from omd.subsystems.gateway.feed import Feed


class Metrics(Collector):
    """Counters of the gateway and a registry that exposes them."""

    def __init__(self, feed: "Feed", status_file: Path | None = None) -> None:
        self.feed = feed
        self.status_file = status_file
        self.journal_stats: dict[str, Any] | None = None
        self.events_out: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.resumes: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()  # (route, status)
        self.gaps = 0
        self.journal_gaps: Counter[str] = Counter()  # gap events made of journal notices, by cause
        self.streams_total = 0
        self.listener: Any = None  # the TcpListener, when [gateway] tcp_listen is set
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def count_out(self, frames: list[bytes]) -> None:
        """Count written SSE frames by kind."""
        out = self.events_out
        for f in frames:
            out[f[7:f.index(b"\n")].decode()] += 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Build the metric families (called at scrape time)."""
        fin = CounterMetricFamily("omd_gateway_events_in", "Events received from the journal, by kind", labels=["kind"])
        for kind, n in sorted(self.feed.events_in.items()):
            fin.add_metric([kind], n)
        yield fin
        fout = CounterMetricFamily("omd_gateway_events_out", "Events written to SSE streams, by kind", labels=["kind"])
        for kind, n in sorted(self.events_out.items()):
            fout.add_metric([kind], n)
        yield fout
        streams = list(self.feed.streams)
        yield GaugeMetricFamily("omd_gateway_streams", "Open event streams", value=len(streams))
        yield CounterMetricFamily("omd_gateway_streams_opened", "Event streams opened", value=self.streams_total)
        yield GaugeMetricFamily("omd_gateway_queue_depth_max", "Deepest stream queue",
                                value=max((len(s.queue) for s in streams), default=0))
        yield GaugeMetricFamily("omd_gateway_queue_depth_total", "Events queued in all streams",
                                value=sum(len(s.queue) for s in streams))
        drops = CounterMetricFamily("omd_gateway_drops", "Streams cut or frames dropped, by cause", labels=["cause"])
        for cause, n in sorted((self.drops + Counter({k: v for k, v in self.feed.stats.items() if k.startswith("dropped.")})).items()):
            drops.add_metric([cause], n)
        yield drops
        yield CounterMetricFamily("omd_gateway_gaps", "Gap events sent to clients", value=self.gaps)
        jgaps = CounterMetricFamily("omd_gateway_journal_gaps",
                                    "Gap events sent to clients for the journal's notices, by cause (bus_gap, not_durable)",
                                    labels=["cause"])
        for cause in ("bus_gap", "not_durable"):
            jgaps.add_metric([cause], self.journal_gaps[cause])
        yield jgaps
        resumes = CounterMetricFamily("omd_gateway_resumes", "Streams started with Last-Event-ID, by result", labels=["result"])
        for result, n in sorted(self.resumes.items()):
            resumes.add_metric([result], n)
        yield resumes
        reqs = CounterMetricFamily("omd_gateway_requests", "HTTP requests by route and status",
                                   labels=["route", "status"])
        for (route, status), n in sorted(self.requests.items()):
            reqs.add_metric([route, status], n)
        yield reqs
        lsn = self.listener
        if lsn is not None:
            yield GaugeMetricFamily("omd_gateway_tcp_listener_up", "1 when the TCP listener is bound, 0 while its bind is retried",
                                    value=1 if lsn.state == "running" else 0)
            yield CounterMetricFamily("omd_gateway_tcp_listen_failures", "Failed binds of the TCP listener",
                                      value=lsn.bind_failures)
            yield GaugeMetricFamily("omd_gateway_tcp_connections", "Open TCP connections", value=lsn.open)
            refused = CounterMetricFamily("omd_gateway_connections_refused",
                                          "TCP connections closed at accept, by limit (listener, peer)", labels=["cause"])
            for cause in ("listener", "peer"):
                refused.add_metric([cause], lsn.refused[cause])
            yield refused
            yield CounterMetricFamily("omd_gateway_header_timeouts",
                                      "TCP connections closed for not sending their request headers in time",
                                      value=lsn.timed_out)
        yield from self._daemon()
        yield from self._journal()

    async def refresh(self) -> None:
        """Fetch the journal's stats for the next exposition (None when it does not answer)."""
        from omd.errors import OmdError

        try:
            self.journal_stats = await self.feed.journal.stats()
        except OmdError:
            self.journal_stats = None

    def _daemon(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        doc: dict[str, Any] = {}
        if self.status_file is not None:
            try:
                doc = json.loads(self.status_file.read_text())
            except (OSError, ValueError):
                doc = {}
        status = GaugeMetricFamily("omd_daemon_status", "1 for the daemon's current status (from its status file)",
                                   labels=["status"])
        if doc.get("status"):
            status.add_metric([str(doc["status"])], 1)
        yield status
        states = GaugeMetricFamily("omd_subsystem_state", "1 for each subsystem's current state",
                                   labels=["subsystem", "state"])
        up = GaugeMetricFamily("omd_subsystem_up", "1 when the subsystem is running, else 0", labels=["subsystem"])
        restarts = CounterMetricFamily("omd_subsystem_restarts", "Restarts of each subsystem by the supervisor",
                                       labels=["subsystem"])
        subsystems = doc.get("subsystems")
        for name, sub in sorted(subsystems.items()) if isinstance(subsystems, dict) else ():
            if not isinstance(sub, dict):
                continue
            states.add_metric([name, str(sub.get("state", ""))], 1)
            up.add_metric([name], 1 if sub.get("state") == "running" else 0)
            restarts.add_metric([name], int(sub.get("restarts") or 0))
        yield states
        yield up
        yield restarts

    def _journal(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.journal_stats
        yield GaugeMetricFamily("omd_journal_up", "1 when the journal answered the stats request of this scrape",
                                value=0 if stats is None else 1)
        if stats is None:
            return
        known = {
            "last_id": "Id of the journal's last event",
            "first_id": "Id of the oldest event in the journal's ring",
            "incarnation_first_id": "First id of the running journal incarnation",
            "ring": "Events in the journal's ring",
            "ring_bytes": "Bytes of the events in the journal's ring ([gateway] ring_max_bytes bounds it)",
            "state": "Entries in the journal's replayed state",
        }
        for key, doc in known.items():
            if isinstance(stats.get(key), int):
                yield GaugeMetricFamily(f"omd_journal_{key}", doc, value=stats[key])
        for key, name, doc in (("bus_missed", "omd_journal_bus_gaps", "Events the bus lost, seen by the journal as seq gaps"),
                               ("disk_failures", "omd_journal_disk_failures", "Failed writes of the journal's state files or id reservation")):
            if isinstance(stats.get(key), int):
                yield CounterMetricFamily(name, doc, value=stats[key])
        if isinstance(stats.get("durable"), bool):
            yield GaugeMetricFamily("omd_journal_durable", "1 when the journal writes its state to disk, 0 while its disk fails",
                                    value=1 if stats["durable"] else 0)
        if isinstance(stats.get("events"), int):
            yield CounterMetricFamily("omd_journal_events", "Events journaled by this incarnation", value=stats["events"])
        refused = stats.get("refused")
        if isinstance(refused, dict):
            family = CounterMetricFamily("omd_journal_refused", "Bus events the journal refused, by cause",
                                         labels=["cause"])
            for cause, n in sorted(refused.items()):
                if isinstance(n, int) and not isinstance(n, bool):
                    family.add_metric([str(cause)], n)
            yield family
        other = GaugeMetricFamily("omd_journal_stat", "Other numeric counters of the journal's stats reply, by name",
                                  labels=["name"])
        for key, value in sorted(stats.items()):
            if key not in known and key not in ("events", "bus_missed", "disk_failures") and isinstance(value, int) and not isinstance(value, bool):
                other.add_metric([key], value)
        yield other

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition for a scraper's Accept header, and its Content-Type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
