"""TCP options and per-endpoint connection history, on real TCP sockets on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Iterator

import msgspec
import pytest
import zmq
from structlog.testing import capture_logs

from omd.netopts import EndpointMonitor, EndpointStats, TcpOptions, apply_tcp_options
from tests.helpers import wait_for

FAST = TcpOptions(reconnect_ivl=0.05, reconnect_ivl_max=0.2)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    """A context whose sockets are all closed at teardown."""
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def _pub(ctx: zmq.Context, port: int | None = None, plain_server: bool = False) -> tuple[zmq.Socket, str]:
    """A PUB bound on 127.0.0.1 (a random port, or `port` again once the old socket has let go)."""
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    if plain_server:  # a mechanism a NULL client cannot speak: every handshake fails
        sock.setsockopt(zmq.PLAIN_SERVER, 1)
    if port is None:
        port = sock.bind_to_random_port("tcp://127.0.0.1")
    else:
        def bound() -> bool:
            try:
                sock.bind(f"tcp://127.0.0.1:{port}")
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EADDRINUSE:
                    raise
                return False
            return True
        wait_for(bound, what=f"port {port} free again")
    return sock, f"tcp://127.0.0.1:{port}"


def _sub(ctx: zmq.Context, *endpoints: str) -> tuple[zmq.Socket, EndpointMonitor]:
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    apply_tcp_options(sock, FAST)
    monitor = EndpointMonitor(sock)  # before connect: the first connection is seen
    for endpoint in endpoints:
        sock.connect(endpoint)
    return sock, monitor


def _until(monitor: EndpointMonitor, seen: list, predicate, what: str) -> None:
    """Poll the monitor, collecting its changes in `seen`, until `predicate()`."""
    wait_for(lambda: seen.extend(monitor.poll()) or predicate(), timeout=10, what=what)


def test_defaults_are_sane_and_bad_values_are_refused():
    """TcpOptions has working defaults, refuses unknown keys, and refuses intervals that cannot work."""
    opts = msgspec.convert({}, TcpOptions)
    assert opts.keepalive and opts.reconnect_ivl <= opts.reconnect_ivl_max
    assert opts.keepalive_idle + opts.keepalive_intvl * opts.keepalive_cnt <= 300  # dead peer in minutes
    with pytest.raises(msgspec.ValidationError, match="unknown field `keepalive_idel`"):
        msgspec.convert({"keepalive_idel": 5}, TcpOptions)
    with pytest.raises(msgspec.ValidationError, match="reconnect_ivl_max >= reconnect_ivl"):
        msgspec.convert({"reconnect_ivl": 2.0, "reconnect_ivl_max": 1.0}, TcpOptions)
    with pytest.raises(msgspec.ValidationError, match="keepalive_cnt must be >= 1"):
        msgspec.convert({"keepalive_cnt": 0}, TcpOptions)


def test_apply_sets_every_option_on_the_socket(ctx):
    """apply_tcp_options sets keepalive and reconnect options, times converted to libzmq's units."""
    sock = ctx.socket(zmq.SUB)
    apply_tcp_options(sock, TcpOptions(keepalive_idle=30, keepalive_intvl=3, keepalive_cnt=4,
                                       reconnect_ivl=0.25, reconnect_ivl_max=8))
    assert [sock.getsockopt(o) for o in (zmq.TCP_KEEPALIVE, zmq.TCP_KEEPALIVE_IDLE, zmq.TCP_KEEPALIVE_INTVL,
                                         zmq.TCP_KEEPALIVE_CNT, zmq.RECONNECT_IVL, zmq.RECONNECT_IVL_MAX)] \
        == [1, 30, 3, 4, 250, 8000]
    apply_tcp_options(sock, TcpOptions(keepalive=False))
    assert sock.getsockopt(zmq.TCP_KEEPALIVE) == 0
    sock.close(linger=0)


def test_restarting_one_peer_shows_a_reconnect_on_its_endpoint_only(ctx):
    """A SUB connected to two PUBs: restarting one gives its endpoint a disconnect and a reconnect,
    the other endpoint's history does not move, and messages flow from the restarted peer."""
    pub_a, ep_a = _pub(ctx)
    pub_b, ep_b = _pub(ctx)
    sub, monitor = _sub(ctx, ep_a, ep_b)
    seen: list[tuple[str, str]] = []
    _until(monitor, seen, lambda: monitor.stats(ep_a).state == "up" and monitor.stats(ep_b).state == "up",
           "both endpoints up")
    assert (ep_a, "up") in seen and (ep_b, "up") in seen
    before_b = msgspec.structs.asdict(monitor.stats(ep_b))
    seen.clear()

    pub_a.close(linger=0)
    pub_a, _ = _pub(ctx, port=int(ep_a.rsplit(":", 1)[1]))
    _until(monitor, seen, lambda: monitor.stats(ep_a).reconnects == 1, "a reconnect on the restarted peer")

    a = monitor.stats(ep_a)
    assert a.state == "up" and a.disconnects == 1 and a.connects == 2 and a.handshakes == 2
    assert a.handshake_failures == 0
    assert [e for e in seen if e[1] != "retried"] == [(ep_a, "disconnected"), (ep_a, "connected"),
                                                      (ep_a, "reconnected")]
    assert all(endpoint == ep_a for endpoint, _ in seen)
    assert msgspec.structs.asdict(monitor.stats(ep_b)) == before_b
    # The restarted peer's messages arrive again (sent until one does: PUB drops before the
    # subscription is in, which is what the reconnect event announces, not a sleep here).
    wait_for(lambda: pub_a.send(b"from a") or sub.poll(50), what="a message from the restarted peer")
    assert sub.recv() == b"from a"
    monitor.close()
    for sock in (sub, pub_a, pub_b):
        sock.close(linger=0)


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")
def test_handshake_failures_are_counted_on_the_failing_endpoint(ctx):
    """A CURVE peer whose key the client does not expect fails every handshake: counted on its
    endpoint, logged once, retried by libzmq; a good peer on the same socket is up, no failure."""
    server_public, server_secret = zmq.curve_keypair()
    wrong_public, _ = zmq.curve_keypair()
    bad = ctx.socket(zmq.PUB)
    bad.setsockopt(zmq.LINGER, 0)
    bad.curve_server, bad.curve_secretkey, bad.curve_publickey = True, server_secret, server_public
    ep_bad = f"tcp://127.0.0.1:{bad.bind_to_random_port('tcp://127.0.0.1')}"
    good = ctx.socket(zmq.PUB)  # a CURVE server that the client's key does match
    good.setsockopt(zmq.LINGER, 0)
    good_public, good_secret = zmq.curve_keypair()
    good.curve_server, good.curve_secretkey, good.curve_publickey = True, good_secret, good_public
    ep_good = f"tcp://127.0.0.1:{good.bind_to_random_port('tcp://127.0.0.1')}"
    client_public, client_secret = zmq.curve_keypair()
    # One SUB cannot expect two server keys: two SUBs share one monitor each, and the point is
    # the failing one's endpoint history; the good SUB proves the key setup itself is right.
    subs, monitors, changes = [], [], []
    for endpoint, expected in ((ep_bad, wrong_public), (ep_good, good_public)):
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = expected, client_public, client_secret
        apply_tcp_options(sock, FAST)
        monitor = EndpointMonitor(sock, on_change=lambda e, ev, st: changes.append((e, ev, st.handshake_failures)))
        sock.connect(endpoint)
        subs.append(sock)
        monitors.append(monitor)
    seen: list[tuple[str, str]] = []
    with capture_logs() as logs:
        wait_for(lambda: seen.extend(monitors[0].poll() + monitors[1].poll()) or (
            monitors[0].stats(ep_bad).handshake_failures >= 3 and monitors[1].stats(ep_good).state == "up"),
            what="three failed handshakes and a good peer up")
    bad_st, good_st = monitors[0].stats(ep_bad), monitors[1].stats(ep_good)
    assert bad_st.handshakes == 0 and bad_st.reconnects == 0 and bad_st.state == "failing"
    assert bad_st.retries >= 2 and bad_st.last_failure.startswith("handshake_failed_no_detail")
    assert good_st.handshake_failures == 0 and good_st.handshakes == 1
    # Logged once for the streak, not at every retry.
    assert [(e["event"], e["endpoint"]) for e in logs] == [("endpoint_handshake_failed", ep_bad)]
    assert (ep_bad, "handshake_failed_no_detail", 1) in changes  # the callback gets the changes too
    assert sorted((e, ev) for e, ev, _ in changes) == sorted(seen)
    for monitor in monitors:
        monitor.close()
    for sock in (*subs, bad, good):
        sock.close(linger=0)


def test_protocol_failure_is_not_retried_by_libzmq_and_stays_failing(ctx):
    """A peer speaking another mechanism fails once with a protocol error and libzmq gives up on
    that endpoint: the monitor shows it `failing`, so its owner knows to connect it again."""
    bad, ep_bad = _pub(ctx, plain_server=True)
    good, ep_good = _pub(ctx)
    sub, monitor = _sub(ctx, ep_bad, ep_good)
    seen: list[tuple[str, str]] = []
    _until(monitor, seen, lambda: monitor.stats(ep_bad).handshake_failures == 1
           and monitor.stats(ep_good).state == "up", "a failed handshake and a good peer up")
    # Absence needs time: watch the monitor for five of FAST's longest retry intervals; libzmq
    # would have retried within the first.
    deadline = time.monotonic() + 5 * FAST.reconnect_ivl_max
    while (left := deadline - time.monotonic()) > 0:
        if monitor.socket.poll(max(1, int(left * 1000))):
            seen.extend(monitor.poll())
    st = monitor.stats(ep_bad)
    assert st.handshake_failures == 1 and st.retries == 0 and st.state == "failing"
    assert st.last_failure.startswith("handshake_failed_protocol")
    assert (ep_bad, "handshake_failed_protocol") in seen
    assert monitor.stats(ep_good).handshake_failures == 0
    monitor.close()
    for sock in (sub, bad, good):
        sock.close(linger=0)


def test_unknown_endpoint_has_empty_stats_and_close_is_idempotent(ctx):
    """stats() of an endpoint never seen is all zero; close() twice, or after the socket, is fine."""
    sock, monitor = _sub(ctx)
    assert monitor.stats("tcp://127.0.0.1:1") == EndpointStats()
    assert monitor.poll() == []
    sock.close(linger=0)
    monitor.close()
    monitor.close()
