"""Prometheus metrics of the gateway, served on `GET /metrics`.

Hot paths only bump plain counters; a custom collector turns them into metric families at
scrape time, so an event costs a dict increment, not a prometheus_client call.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from omd.subsystems.gateway.feed import Feed


class Metrics(Collector):
    """Counters of the gateway and a registry that exposes them."""

    def __init__(self, feed: "Feed") -> None:
        self.feed = feed
        self.events_out: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.resumes: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.gaps = 0
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
        resumes = CounterMetricFamily("omd_gateway_resumes", "Streams started with Last-Event-ID, by result", labels=["result"])
        for result, n in sorted(self.resumes.items()):
            resumes.add_metric([result], n)
        yield resumes
        reqs = CounterMetricFamily("omd_gateway_requests", "HTTP requests by route and status", labels=["route"])
        for route, n in sorted(self.requests.items()):
            reqs.add_metric([route], n)
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

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
