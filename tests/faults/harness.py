"""Fault runs: a paced load of API posts, resuming SSE clients, and the verdict on every event.

A run posts `JoinIgnored` events (a kind no subsystem publishes and nothing compacts) through
`POST /api/node/event` at a fixed rate while `clients` SSE streams read them and a fault is
injected. Each client resumes with `Last-Event-ID` whenever its stream ends or breaks, like
`om node events` does. At the end every event the API acknowledged (a 200 with its id: the
journal holds it) is classified, per client, as:

- delivered: the client received it;
- gap: the client received a gap event whose range covers it (`gap_after` < id <
  `gap_resume_from`: the gateway said that these ids are not served any more);
- lost: neither. Lost must be 0: an acknowledged event is never dropped silently.

A client also checks that ids only increase on a connection and across its reconnects (no
duplicate, no reorder).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import http.client
import json

from tests.sse import RawStream

EVENTS = "/api/node/name/_/daemon/event"
KIND = "JoinIgnored"


@dataclass
class ClientRecord:
    """What one resuming SSE client saw."""

    ids: list[int] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (gap_after, gap_resume_from)
    notices: int = 0  # gap events without a range (journal notices, a stream that failed)
    reconnects: int = 0
    order_errors: list[str] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.ids[-1] if self.ids else 0


class Client(threading.Thread):
    """An SSE reader over api.sock that resumes from its last id until told to stop."""

    def __init__(self, sock_path: str, start_after: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.sock_path = sock_path
        self.resume_from = start_after
        self.stop_event = stop
        self.record = ClientRecord()
        self.target = 0  # once set: read until this id, then exit

    def _consume(self, stream: RawStream) -> None:
        rec = self.record
        while not self.stop_event.is_set():
            if self.target and rec.last >= self.target:
                return
            got = stream.events(1, 0.5)
            if not got:
                if stream.closed:
                    return
                continue
            ev = got[0]
            if ev.kind == "SubscriptionError":
                after, first = ev.data.get("gap_after"), ev.data.get("gap_resume_from")
                if isinstance(after, int) and isinstance(first, int):
                    rec.gaps.append((after, first))
                else:
                    rec.notices += 1
                if ev.id is not None:
                    self.resume_from = max(self.resume_from, ev.id)
                continue
            if ev.kind != KIND or ev.id is None:
                continue
            if ev.id <= self.resume_from:
                rec.order_errors.append(f"id {ev.id} after {self.resume_from}")
            rec.ids.append(ev.id)
            self.resume_from = ev.id

    def run(self) -> None:
        first = True
        while not self.stop_event.is_set():
            if self.target and self.record.last >= self.target:
                return
            if not first:
                self.record.reconnects += 1
                time.sleep(0.2)
            first = False
            try:
                stream = RawStream(self.sock_path, f"{EVENTS}?filter={KIND}",
                                   headers={"Last-Event-ID": str(self.resume_from)})
            except OSError:  # api.sock is gone while the gateway restarts
                continue
            try:
                stream.read_headers(5)
                if stream.status != 200:
                    continue
                self._consume(stream)
            except (OSError, AssertionError, ValueError):
                continue  # a broken connection or a cut frame: resume
            finally:
                stream.close()


class _UnixHTTP(http.client.HTTPConnection):
    """http.client over a unix socket. (httpx over a unix socket leaks the socket of a failed
    connect, which the gateway's kill -9 makes routine.)"""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("omd", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def post(conn: _UnixHTTP, body: dict) -> tuple[int, dict]:
    """POST /api/node/event on `conn`: (status, decoded body); OSError/HTTPException if none."""
    conn.request("POST", "/api/node/event", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    try:
        doc = json.loads(data) if data else {}
    except ValueError:
        doc = {}
    return r.status, doc if isinstance(doc, dict) else {}


class Load(threading.Thread):
    """Posts KIND at `rate` events/s over api.sock and keeps the ids the API acknowledged."""

    def __init__(self, sock_path: str, node: str, rate: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.sock_path, self.node, self.rate, self.stop_event = sock_path, node, rate, stop
        self.acked: list[int] = []
        self.refused = 0  # 503: the API said it could not take it (not acknowledged)
        self.failed = 0  # no answer (the gateway was down): not acknowledged either
        self.other: list[int] = []  # any other status: a defect

    def run(self) -> None:
        conn = _UnixHTTP(self.sock_path, 10)
        n = 0
        start = time.monotonic()
        try:
            while not self.stop_event.is_set():
                n += 1
                due = start + n / self.rate
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)  # pacing: the load's rate, not a wait for a condition
                body = {"kind": KIND, "labels": {"node": self.node}, "data": {"candidate_node": f"c{n}"}}
                try:
                    status, doc = post(conn, body)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    self.failed += 1
                    time.sleep(0.05)
                    continue
                if status == 200:
                    self.acked.append(int(doc["id"]))
                elif status == 503:
                    self.refused += 1
                else:
                    self.other.append(status)
        finally:
            conn.close()


@dataclass
class Verdict:
    """The classification of one run."""

    fault: str
    acked: int
    refused: int
    unanswered: int
    seconds: float = 0.0  # how long the load ran
    delivered: int = 0
    gap: int = 0
    lost: int = 0
    duplicates: int = 0
    order_errors: int = 0
    reconnects: int = 0
    notices: int = 0  # gap events without a range the clients got (journal notices, failed streams)
    lost_examples: list[tuple[int, int]] = field(default_factory=list)  # (client, id)
    other_statuses: list[int] = field(default_factory=list)

    def line(self) -> str:
        rate = self.acked / self.seconds if self.seconds else 0
        return (f"{self.fault}: acked {self.acked} in {self.seconds:.1f} s ({rate:.0f}/s; 503 {self.refused}, "
                f"unanswered {self.unanswered}); "
                f"per client delivered {self.delivered}, gap {self.gap}, lost {self.lost}; "
                f"duplicates {self.duplicates}, out of order {self.order_errors}, reconnects {self.reconnects}, "
                f"other gap events {self.notices}")


def classify(fault: str, loads: list[Load], clients: list[Client], seconds: float = 0.0) -> Verdict:
    acked = sorted(i for load in loads for i in load.acked)
    v = Verdict(fault, len(acked), sum(x.refused for x in loads), sum(x.failed for x in loads), seconds,
                other_statuses=[s for x in loads for s in x.other])
    for index, client in enumerate(clients):
        rec = client.record
        seen = set(rec.ids)
        v.duplicates += len(rec.ids) - len(seen)
        v.order_errors += len(rec.order_errors)
        v.reconnects += rec.reconnects
        v.notices += rec.notices
        for eid in acked:
            if eid in seen:
                v.delivered += 1
            elif any(after < eid < first for after, first in rec.gaps):
                v.gap += 1
            else:
                v.lost += 1
                if len(v.lost_examples) < 10:
                    v.lost_examples.append((index, eid))
    return v


def last_id(sock_path: str) -> int:
    """The id of the newest event the journal holds (0 when none)."""
    conn = _UnixHTTP(sock_path, 10)
    try:
        status, doc = post(conn, {"kind": KIND, "labels": {"node": "probe"}, "data": {"candidate_node": "probe"}})
    finally:
        conn.close()
    assert status == 200, (status, doc)
    return int(doc["id"])


def run(fault: str, sock_path: str, node: str, inject: Callable[[], None], *, rate: float = 500,
        clients: int = 20, before: float = 3.0, after: float = 5.0, settle: float = 60.0,
        posters: int = 3) -> Verdict:
    """One fault run: load and clients for `before` s, `inject()`, `after` s more, then wait
    (up to `settle` s) until every client has read past the last acknowledged id. The load
    is `posters` connections sharing `rate` (a POST waits for the journal's answer)."""
    stop_load, stop_clients = threading.Event(), threading.Event()
    start_after = last_id(sock_path)
    readers = [Client(sock_path, start_after, stop_clients) for _ in range(clients)]
    for c in readers:
        c.start()
    loads = [Load(sock_path, node, rate / posters, stop_load) for _ in range(posters)]
    started = time.monotonic()
    for load in loads:
        load.start()
    try:
        time.sleep(before)  # the load's own pace: this is the run's duration, not a wait
        inject()
        time.sleep(after)
    finally:
        stop_load.set()
        for load in loads:
            load.join(30)
    seconds = time.monotonic() - started
    top = max((i for load in loads for i in load.acked), default=0)
    for c in readers:
        c.target = top
    deadline = time.monotonic() + settle
    for c in readers:
        c.join(max(0.1, deadline - time.monotonic()))
    stop_clients.set()
    for c in readers:
        c.join(5)
    return classify(fault, loads, readers, seconds)


def kill9(pid_of: Callable[[], int]) -> Callable[[], None]:
    return lambda: os.kill(pid_of(), signal.SIGKILL)


def stop_cont(pid_of: Callable[[], int], seconds: float) -> Callable[[], None]:
    def inject() -> None:
        pid = pid_of()
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)  # the length of the stall is the fault itself
        finally:
            os.kill(pid, signal.SIGCONT)
    return inject


__all__ = ["Client", "Load", "Verdict", "classify", "run", "kill9", "stop_cont", "last_id", "post"]
