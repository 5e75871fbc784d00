"""The daemon's life cycle with real processes: start, bus, restarts, stop, refusal, config."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import zmq

from omd.model.events import DaemonCtl, InstanceStatusUpdated
from omd.sockets import Publisher
from omd.model.wire import decode_topic, topic_prefix
from tests.helpers import REPO, api_client, pids_under_root, ready_subscriber, wait_for


def _omd(root, *args, env=None, timeout=30):
    return subprocess.run([sys.executable, "-m", "omd", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})


def test_published_event_reaches_subscriber_with_exact_frames(daemon, zctx):
    """A subscriber receives a published event as topic, meta and data frames per the wire format."""
    sub = ready_subscriber(zctx, daemon, [topic_prefix("InstanceStatusUpdated")])
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    event = InstanceStatusUpdated(path="svc1", node="n1", labels={"path": "svc1", "node": "n1", "namespace": "root"})
    assert pub.publish(event)
    frames = None
    sub.sock.poll(5000)
    frames = sub.sock.recv_multipart()
    assert frames[0] == b"InstanceStatusUpdated\0namespace=root\0node=n1\0path=svc1\0"
    meta = json.loads(frames[1])
    assert set(meta) == {"at", "origin", "pub", "seq"}
    assert meta["origin"] == "n1" and meta["seq"] == 1 and meta["pub"] == pub.pub_id
    assert meta["at"].endswith("Z") and len(meta["at"].split(".")[1]) == 10  # 9 digits + Z
    assert frames[2].startswith(b'{"labels":{"path":"svc1","node":"n1","namespace":"root"},"path":"svc1"')
    pub.close()
    sub.close()


def test_new_publisher_process_loses_no_first_event(daemon, zctx):
    """A publisher process that publishes right after connecting loses none of its first events."""
    sub = ready_subscriber(zctx, daemon, [topic_prefix("NodeStatsUpdated")])
    code = textwrap.dedent(f"""
        import zmq
        from omd.model.events import NodeStatsUpdated
        from omd.sockets import Publisher
        ctx = zmq.Context()
        pub = Publisher(ctx, {daemon.endpoint("in")!r}, "n1", "burst")
        for i in range(200):
            assert pub.publish(NodeStatsUpdated(node="n1"))
        pub.close(); ctx.term()
    """)
    for _ in range(3):  # three fresh processes, each must deliver all 200 from seq 1
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=30)
    seqs: dict[str, list[int]] = {}
    while sum(len(v) for v in seqs.values()) < 600:
        msg = sub.recv(timeout=5)
        assert msg is not None, f"received only {seqs}"
        if msg.meta.pub.startswith("burst:"):  # the node monitor publishes this kind too
            seqs.setdefault(msg.meta.pub, []).append(msg.meta.seq)
    assert len(seqs) == 3
    assert all(v == list(range(1, 201)) for v in seqs.values())
    sub.close()


def test_publisher_waits_for_its_subscribers_across_a_bus_restart(daemon, zctx):
    """Events published right after a bus restart reach the subscribers of before the restart.

    The publisher sees the bus go (its subscriptions end with the connection) and, once the
    bus is back, holds its first event until every topic subscribed before is subscribed again;
    the subscriber, reading as a subsystem does, renews its subscriptions once reconnected
    (see `Subscriber.resubscribe_if_reconnected`). Topics are all a publisher sees, so the test
    subscribes to a prefix that no subsystem uses.
    """
    prefix = topic_prefix("InstanceStatusUpdated") + b"namespace=root\0"
    sub = ready_subscriber(zctx, daemon, [prefix])
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    assert pub.wait_subscription(prefix, 10)
    got: list[str] = []
    done = threading.Event()

    def read() -> None:  # the subscriber's own loop, as in a subsystem
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline and len(got) < 3:
            msg = sub.recv(timeout=0.05)
            if msg is not None:
                got.append(msg.data_obj()["path"])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        old = daemon.subsystem_pid("bus")
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: not pub.wait_ready(0), what="the publisher to see the bus go")
        labels = {"path": "svc1", "node": "n1", "namespace": "root"}
        for i in range(3):
            assert pub.publish(InstanceStatusUpdated(path=f"svc{i}", node="n1", labels=labels),
                               ready_timeout=15)
        wait_for(lambda: len(got) == 3, timeout=10, what="the three events after the restart")
    finally:
        done.set()
        reader.join()
    assert got == ["svc0", "svc1", "svc2"]
    # The reader may have got all three before its (rate-limited) look at the monitor.
    wait_for(lambda: sub.resubscribe_if_reconnected() or sub.reconnects == 1, what="the reconnect seen")
    assert sub.reconnects == 1
    assert daemon.subsystem_pid("bus") != old
    pub.close(linger_ms=0)
    sub.close()


def test_renewing_subscriptions_loses_no_event(daemon, zctx):
    """Renewing the subscriptions (what a subscriber does after a bus restart) drops nothing
    of a stream published meanwhile: the topic is never cancelled at the bus."""
    from omd.model.events import ObjectStatusUpdated

    sub = ready_subscriber(zctx, daemon, [topic_prefix("ObjectStatusUpdated")])
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    assert pub.wait_ready(10)
    total = 20_000
    sender = threading.Thread(target=lambda: [pub.publish(ObjectStatusUpdated(path="svc1", node="n1"))
                                              for _ in range(total)])
    sender.start()
    got = 0
    try:
        while got < total:
            msg = sub.recv(timeout=10)
            assert msg is not None, f"stream stalled after {got} of {total} events"
            got += 1
            sub.renew_subscriptions()
    finally:
        sender.join()
    assert sub.stats["gaps"] == 0 and got == total
    pub.close(linger_ms=0)
    sub.close()


_api = api_client


def test_subsystems_still_hear_their_topics_after_a_bus_restart(daemon, zctx):
    """After kill -9 of the bus, the supervisor still acts on DaemonCtl (a specific topic)."""
    old_bus = daemon.subsystem_pid("bus")
    os.kill(old_bus, signal.SIGKILL)
    wait_for(lambda: daemon.status()["subsystems"]["bus"]["pid"] not in (0, old_bus)
             and daemon.status()["subsystems"]["bus"]["state"] == "running", what="bus restart")
    old_nmon = daemon.subsystem_pid("nmon")
    probe = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    assert probe.wait_subscription(topic_prefix("DaemonCtl"), 10), "the supervisor never resubscribed"
    probe.close(linger_ms=0)
    with _api(daemon) as api:
        r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
            api.post("/api/daemon/subsystem/nmon/action/restart")), what="restart accepted")
    assert r.json()["component"] == "nmon"
    wait_for(lambda: daemon.status()["subsystems"]["nmon"]["pid"] not in (0, old_nmon),
             what="nmon restarted by DaemonCtl after the bus restart")


def test_daemon_ctl_from_another_publisher_is_refused(daemon, zctx):
    """A DaemonCtl that a bus writer publishes itself (not the gateway) restarts nothing."""
    old_nmon = daemon.subsystem_pid("nmon")
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "gateway")  # the name alone is not enough
    assert pub.wait_subscription(topic_prefix("DaemonCtl"), 10)
    assert pub.publish(DaemonCtl(component="nmon", action="restart", labels={"node": "n1"}))
    wait_for(lambda: "daemon_ctl_refused" in daemon.log(), what="refusal logged")
    assert daemon.subsystem_pid("nmon") == old_nmon
    pub.close(linger_ms=0)


def test_kill_9_of_bus_restarts_it_and_publishes_state(daemon, zctx):
    """kill -9 of the bus process: the supervisor restarts it and publishes DaemonStatusUpdated."""
    sub = ready_subscriber(zctx, daemon, [topic_prefix("DaemonStatusUpdated")])
    old = daemon.subsystem_pid("bus")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: daemon.status()["subsystems"]["bus"]["restarts"] == 1
             and daemon.status()["subsystems"]["bus"]["state"] == "running", what="bus restart")
    assert daemon.subsystem_pid("bus") not in (0, old)
    # The subscriber reconnects by itself; the supervisor publishes once the bus is back.
    deadline = time.monotonic() + 10
    while True:
        msg = sub.recv(timeout=max(0.1, deadline - time.monotonic()))
        assert msg is not None, "no DaemonStatusUpdated after the bus restart"
        data = msg.data_obj()
        if data["subsystems"]["bus"]["restarts"] == 1:
            break
    assert data["status"] == "started" and data["subsystems"]["bus"]["last_exit"] == -9
    assert msg.labels == {"node": daemon.status()["node"]}
    sub.close()


def test_sigterm_leaves_no_process_and_no_socket(daemon):
    """SIGTERM stops every subsystem and removes sockets, pid and status files."""
    children = [s["pid"] for s in daemon.status()["subsystems"].values()]
    assert all(children)
    assert daemon.stop() == 0
    assert pids_under_root(daemon.root) == []
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}") or ") Z " in open(f"/proc/{pid}/stat").read()
    assert sorted(os.listdir(daemon.paths.run)) == []


def test_second_daemon_on_same_root_is_refused(daemon):
    """A second daemon on the same root exits at once with code 2 and says which pid runs."""
    result = _omd(daemon.root, "run", timeout=15)
    assert result.returncode == 2
    assert f"already running on root {daemon.root}" in result.stderr
    assert str(daemon.proc.pid) in result.stderr
    assert daemon.proc.poll() is None


def test_status_and_stop_commands(daemon):
    """`omd status` exits 0 with subsystem states while running, 3 after `omd stop`."""
    result = _omd(daemon.root, "status")
    assert result.returncode == 0, result.stderr
    assert "omd started" in result.stdout and "bus" in result.stdout and "running" in result.stdout
    stopped = _omd(daemon.root, "stop")
    assert stopped.returncode == 0 and "omd stopped" in stopped.stdout
    assert daemon.proc.wait(10) == 0
    after = _omd(daemon.root, "status")
    assert after.returncode == 3 and "not running" in after.stdout


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[bus]\nfoo = 1\n", "bus.foo: unknown key"),
        ("[daemon]\nstop_grace = \"soon\"\n", "daemon.stop_grace: Expected `float`, got `str`"),
        ("[nodes]\nname = \"x\"\n", "nodes: unknown key"),
        ("[log]\nlevel = \"loud\"\n", "log.level: 'loud' is not one of"),
        ("[daemon\n", "invalid TOML"),
    ],
)
def test_bad_config_exits_2_naming_file_and_key(root, config, expected):
    """A bad config makes `omd run` and `--check-config` exit 2 naming the file and the key."""
    conf = root / "etc" / "omd" / "omd.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(config)
    for args in (["run"], ["--check-config"]):
        result = _omd(root, *args)
        assert result.returncode == 2, result
        assert str(conf) in result.stderr and expected in result.stderr
    assert pids_under_root(root) == []


def test_unreadable_config_exits_2(root):
    """A config path that cannot be read as a file is an error naming it, exit 2."""
    (root / "etc" / "omd" / "omd.toml").mkdir(parents=True)
    result = _omd(root, "--check-config")
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_check_config_accepts_documented_defaults(root):
    """`--check-config` accepts conf/omd.toml, the documented default configuration."""
    conf = root / "etc" / "omd" / "omd.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text((REPO / "conf" / "omd.toml").read_text())
    result = _omd(root, "--check-config")
    assert result.returncode == 0 and "ok" in result.stdout


def test_malformed_frames_are_survived_and_counted(daemon, zctx):
    """Malformed frames on the bus are dropped and counted; processes keep running."""
    sub = ready_subscriber(zctx, daemon, [b""])
    raw = zctx.socket(zmq.XPUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(daemon.endpoint("in"))
    # Wait for the bus's subscriptions so nothing we send is dropped before the bus.
    wait_for(lambda: raw.poll(100) and raw.recv() == b"\x01\xffomd.ready" or False, what="ready")
    good_meta = b'{"at":"2026-01-01T00:00:00.000000000Z","origin":"x","pub":"raw","seq":1}'
    bad = [
        [b"WatchDog\0"],  # frame count
        [b"WatchDog\0", good_meta, b"{}", b"extra"],  # frame count
        [b"WatchDog", good_meta, b"{}"],  # topic without NUL
        [b"WatchDog\0novalue\0", good_meta, b"{}"],  # label not key=value
        [b"NoSuchKind\0", good_meta, b"{}"],  # unknown kind
        [b"WatchDog\0", b"not json", b"{}"],  # meta
        [b"WatchDog\0", b'{"at":1}', b"{}"],  # meta fields
        [b"WatchDog\0", good_meta, b"[1,2]"],  # data not an object
        [b"\xff\xfe\0", good_meta, b"{}"],  # topic not UTF-8
    ]
    for frames in bad:
        raw.send_multipart(frames)
    raw.send_multipart([b"WatchDog\0", good_meta.replace(b"raw", b"raw-good"), b'{"labels":null,"bus":"x"}'])
    while True:
        msg = sub.recv(timeout=5)
        assert msg is not None
        if msg.meta.pub == "raw-good":
            break
    assert sub.stats["dropped.frame_count"] == 2
    assert sub.stats["dropped.topic"] == 3
    assert sub.stats["dropped.unknown_kind"] == 1
    assert sub.stats["dropped.meta"] == 2
    assert sub.stats["dropped.data"] == 1
    # The supervisor subscribes to WatchDog and saw the same garbage: it still runs and relays.
    wait_for(lambda: _omd(daemon.root, "status").returncode == 0, what="status")
    assert daemon.proc.poll() is None
    assert daemon.status()["subsystems"]["bus"]["restarts"] == 0
    assert "bus_frame_dropped" in daemon.log()
    raw.close()
    sub.close()


def test_seq_gap_is_detected_logged_and_counted(daemon, zctx):
    """A jump in a publisher's seq for a kind is counted as lost messages."""
    sub = ready_subscriber(zctx, daemon, [topic_prefix("WatchDog")])
    raw = zctx.socket(zmq.XPUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(daemon.endpoint("in"))
    wait_for(lambda: raw.poll(100) and raw.recv() == b"\x01\xffomd.ready" or False, what="ready")
    gaps = []
    sub.on_gap = lambda pub, kind, missed: gaps.append((pub, kind, missed))
    for seq in (1, 2, 5, 6):
        meta = json.dumps({"at": "2026-01-01T00:00:00.000000000Z", "origin": "x", "pub": "gappy", "seq": seq})
        raw.send_multipart([b"WatchDog\0", meta.encode(), b'{"labels":null,"bus":"x"}'])
    got = []
    while len(got) < 4:
        msg = sub.recv(timeout=5)
        assert msg is not None
        if msg.meta.pub == "gappy":
            got.append(msg.meta.seq)
    assert got == [1, 2, 5, 6]
    assert gaps == [("gappy", "WatchDog", 2)] and sub.stats["gaps"] == 2
    raw.close()
    sub.close()


def test_bus_sockets_are_owner_only(daemon):
    """Bus socket files are created with mode 0600."""
    for path in (daemon.paths.bus_in, daemon.paths.bus_out):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(daemon.paths.secret_file.stat().st_mode) == 0o600
    assert len(daemon.paths.secret_file.read_text().strip()) == 32


def test_tcp_endpoint_serves_third_party_subscribers(daemon_factory, zctx):
    """With [bus] tcp_listen on loopback, a plain SUB over TCP receives events."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon_factory(f'[bus]\ntcp_listen = "tcp://127.0.0.1:{port}"\n[daemon]\nwatchdog_interval = 0.2\n')
    sub = zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"WatchDog\0")
    sub.connect(f"tcp://127.0.0.1:{port}")
    assert sub.poll(5000), "no WatchDog over TCP"
    kind, labels = decode_topic(sub.recv_multipart()[0])
    assert kind == "WatchDog" and labels == {"node": d.status()["node"]}
    sub.close()


def test_log_records_are_published_as_log_events(daemon, zctx):
    """Info log records of the daemon are published as Log events with their subsystem."""
    sub = ready_subscriber(zctx, daemon, [topic_prefix("Log")])
    daemon.proc.send_signal(signal.SIGHUP)  # logs config_reload_unchanged at info
    msg = sub.recv(timeout=10)
    assert msg is not None
    data = msg.data_obj()
    assert data["level"] == "info" and data["subsystem"] == "daemon"
    assert data["message"].startswith("config_reload_unchanged")
    sub.close()


def test_sighup_with_bad_config_keeps_running_config(daemon):
    """SIGHUP with a broken config file logs the error and keeps the daemon running."""
    daemon.paths.config_file.write_text("[bus]\nnope = 1\n")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reload_failed" in daemon.log(), what="reload failure log")
    assert "bus.nope: unknown key" in daemon.log()
    assert daemon.proc.poll() is None and daemon.status()["status"] == "started"


def test_sighup_restarts_subsystems_on_bus_change(daemon, zctx):
    """SIGHUP with a changed [bus] section restarts the bus with the new settings."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    old = daemon.subsystem_pid("bus")
    daemon.paths.config_file.write_text(
        f'[bus]\ntcp_listen = "tcp://127.0.0.1:{port}"\n[daemon]\nwatchdog_interval = 0.2\n')
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.status()["subsystems"]["bus"]["pid"] not in (0, old), what="bus restart")
    sub = zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"WatchDog\0")
    sub.connect(f"tcp://127.0.0.1:{port}")
    assert sub.poll(5000), "reloaded bus does not serve TCP"
    sub.close()


def test_systemd_notify_protocol(daemon_factory, root):
    """Under a NOTIFY_SOCKET the daemon sends READY=1, WATCHDOG=1 and STOPPING=1."""
    path = str(root / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ns:
        ns.bind(path)
        ns.settimeout(10)
        d = daemon_factory(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        seen: list[str] = []

        def until(word):
            while not any(word in m for m in seen):
                seen.append(ns.recv(4096).decode())
            return True

        until("READY=1")
        until("WATCHDOG=1")
        d.stop()
        until("STOPPING=1")
    ready = next(m for m in seen if "READY=1" in m)
    assert "STATUS=" in ready


def test_started_means_every_subsystem_reported_ready(daemon):
    """`started` comes once each subsystem reported ready; a restarted one is `starting` until
    it reports again."""
    status = daemon.status()
    assert status["status"] == "started"
    for name, sub in status["subsystems"].items():
        assert sub["state"] == "running" and sub["ready_at"] >= sub["started_at"] > "", (name, sub)
    assert "daemon_started" in daemon.log() and "daemon_started_degraded" not in daemon.log()
    before = status["subsystems"]["nmon"]
    os.kill(before["pid"], signal.SIGKILL)
    seen = set()

    def nmon_ready_again() -> bool:
        now = daemon.status()["subsystems"]["nmon"]
        seen.add(now["state"])
        return now["state"] == "running" and now["pid"] not in (0, before["pid"])

    wait_for(nmon_ready_again, interval=0.005, what="nmon restarted and ready")
    after = daemon.status()["subsystems"]["nmon"]
    assert after["ready_at"] > after["started_at"] > before["ready_at"] and after["restarts"] == 1
    assert "restarting" in seen


def test_start_timeout_says_degraded_without_a_subsystem_that_never_gets_ready(daemon_factory):
    """A gateway stopped (SIGSTOP) before it got ready never gets ready: the daemon stays
    `starting` until `start_timeout`, then says `degraded` (not `started`) and names it."""
    d = daemon_factory("[daemon]\nstart_timeout = 10.0\n", start=False).start(wait=False)
    pid = wait_for(lambda: d.status().get("subsystems", {}).get("gateway", {}).get("pid"), interval=0.002,
                   what="gateway spawned")
    os.kill(pid, signal.SIGSTOP)
    try:
        assert d.status()["subsystems"]["gateway"]["state"] == "starting", "the gateway was ready too soon"
        wait_for(lambda: d.status().get("status") == "starting"
                 and d.status()["subsystems"]["nmon"]["state"] == "running", what="nmon ready")
        assert d.status()["subsystems"]["gateway"]["state"] != "running"
        wait_for(lambda: d.status().get("status") == "degraded", what="degraded after the timeout")
        assert d.status()["subsystems"]["gateway"]["state"] != "running"
        assert '"not_ready": ["gateway"]' in d.log() and "daemon_started_degraded" in d.log()
    finally:
        os.kill(pid, signal.SIGCONT)


def test_dead_subsystem_leaves_no_socket_and_the_daemon_says_degraded(daemon_factory):
    """kill -9 of the gateway: api.sock is removed at once, the daemon is `degraded` while the
    gateway waits for its restart, and `started` again once it runs."""
    d = daemon_factory("[daemon]\nwatchdog_interval = 0.5\nrestart_backoff_initial = 3.0\n")
    assert d.paths.api_socket.exists()
    os.kill(d.subsystem_pid("gateway"), signal.SIGKILL)
    wait_for(lambda: d.status()["subsystems"]["gateway"]["state"] == "restarting", what="gateway died")
    assert d.status()["status"] == "degraded"
    assert not d.paths.api_socket.exists(), "the dead gateway's api.sock was left behind"
    wait_for(lambda: d.status()["status"] == "started" and d.paths.api_socket.exists(), timeout=20,
             what="recovered")


def test_ctrl_c_on_a_foreground_daemon_stops_it_in_order(root, zctx):
    """SIGINT to the daemon's whole process group (a terminal's Ctrl-C) reaches the supervisor
    only: the bus outlives the subsystems, so a subscriber sees `stopping`, each subsystem
    stopped, then `stopped`."""
    from tests.helpers import Daemon

    d = Daemon(root)
    log = open(d.log_path, "a")
    # Its own session and group, as a shell's foreground job: killpg reaches all of it.
    d.proc = subprocess.Popen([sys.executable, "-m", "omd", "--root", str(root), "run"], stdout=log,
                              stderr=subprocess.STDOUT, env=d.env, cwd=REPO, start_new_session=True)
    d._log = log
    try:
        wait_for(lambda: d.status().get("status") == "started", timeout=60, what="daemon start")
        sub = ready_subscriber(zctx, d, [topic_prefix("DaemonStatusUpdated")])
        os.killpg(d.proc.pid, signal.SIGINT)
        statuses = []
        deadline = time.monotonic() + 45
        while "stopped" not in statuses and time.monotonic() < deadline:
            msg = sub.recv(timeout=1)
            if msg is not None:
                statuses.append(msg.data_obj()["status"])
        assert d.proc.wait(45) == 0
        assert statuses[:1] == ["stopping"] and statuses[-1] == "stopped", statuses
        assert len(statuses) >= 3, statuses  # subsystems' stop states between the two
        sub.close()
    finally:
        d.stop()


def test_sighup_restarts_only_the_subsystem_whose_section_changed(daemon):
    """A changed [nmon] key: SIGHUP restarts nmon alone; no other pid changes, no restart is
    counted as a crash, and an open event stream goes on without a gap."""
    from tests.sse import RawStream

    before = daemon.status()["subsystems"]
    daemon.paths.config_file.write_text("[daemon]\nwatchdog_interval = 0.5\n[nmon]\nstats_interval = 7.0\n")
    stream = RawStream(str(daemon.paths.api_socket),
                       "/api/node/name/_/daemon/event?filter=SubscriptionError&filter=NodeConfigUpdated")
    try:
        stream.read_headers()
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.status()["subsystems"]["nmon"]["pid"] not in (0, before["nmon"]["pid"])
                 and daemon.status()["subsystems"]["nmon"]["state"] == "running", what="nmon restarted")
        after = daemon.status()["subsystems"]
        for name, sub in after.items():
            assert sub["restarts"] == 0, (name, sub)
            if name != "nmon":
                assert sub["pid"] == before[name]["pid"], f"{name} was restarted by a reload of [nmon]"
        assert daemon.status()["status"] == "started"
        # The stream stays open: it receives the restarted nmon's NodeConfigUpdated, no gap.
        got = stream.events(1, timeout=10)
        assert [e.kind for e in got] == ["NodeConfigUpdated"], got
    finally:
        stream.close()
