"""`om` / `ox` as real subprocesses against a real daemon: filters, templates, waits, exits, resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner

from omd_cli.om import om
from tests.helpers import Daemon, cleanup_root, short_root, wait_for

ALL = [("svc2", "n1", "up"), ("svc1", "n2", "up"), ("svc1", "n1", "down"), ("svc1", "n1", "up")]
SVC1_N1 = [("svc1", "n1", "down"), ("svc1", "n1", "up")]
DOC_FILTERS = {
    "path=svc1,node=n1": SVC1_N1,
    "InstanceStatusUpdated": ALL,
    "InstanceStatusUpdated,ObjectOrchestrationEnd": ALL,
    "InstanceStatusUpdated,path=svc1,ObjectOrchestrationEnd": ALL[1:],
    "InstanceStatusUpdated,path=svc1,node=n1": SVC1_N1,
    'InstanceStatusUpdated,path=svc1,node=n1,.instance_status.frozen_at="0001-01-01T00:00:00Z"': [("svc1", "n1", "up")],
    'InstanceStatusUpdated,path=svc1,node=n1,.instance_status.frozen_at>"0001-01-01T00:00:00Z"': [("svc1", "n1", "down")],
    'InstanceStatusUpdated,path=svc1,node=n1,.instance_status.avail="up"': [("svc1", "n1", "up")],
    # errata: the doc reads resources."fs#1".avail; the resource field is status
    'InstanceStatusUpdated,path=svc1,node=n1,.instance_status.resources."fs#1".status="up"': [("svc1", "n1", "up")],
}


def _om(daemon, *args, input=None, timeout=30, env=None):
    return subprocess.run([sys.executable, "-m", "omd_cli.om", *args], capture_output=True, text=True,
                          timeout=timeout, input=input,
                          env={**os.environ, "OMD_ROOT": str(daemon.root), **(env or {})})


def _api(daemon) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.paths.api_socket)), base_url="http://omd", timeout=10)


def _post(daemon, kind: str, labels: dict, data: dict) -> None:
    with _api(daemon) as c:
        r = c.post("/api/node/event", json={"kind": kind, "labels": labels, "data": data})
        assert r.status_code == 200, r.text


def _istatus(daemon, path="svc1", node="n1", avail="up", frozen_at="0001-01-01T00:00:00Z", fs="up",
             provisioned="true") -> None:
    ns = path.split("/")[0] if "/" in path else "root"
    _post(daemon, "InstanceStatusUpdated", {"path": path, "node": node, "namespace": ns}, {
        "path": path, "node": node,
        "instance_status": {"avail": avail, "frozen_at": frozen_at, "provisioned": provisioned,
                            "resources": {"fs#1": {"status": fs, "label": "fs", "type": "fs.flag"}}}})


@pytest.fixture
def node(daemon_factory):
    """A running daemon with its API up."""
    d = daemon_factory()
    wait_for(lambda: d.paths.api_socket.exists(), what="api socket")
    with socket.socket(socket.AF_UNIX) as s:
        wait_for(lambda: s.connect_ex(str(d.paths.api_socket)) == 0, what="api accepting")
    return d


@pytest.fixture(scope="module")
def shared_node():
    """One running daemon for the tests of this module that only add idempotent state (the
    same events each time) and read: a daemon start is most of a test's time."""
    root = short_root()
    d = Daemon(root)
    try:
        d.start()
        wait_for(lambda: d.paths.api_socket.exists(), what="api socket")
        with socket.socket(socket.AF_UNIX) as s:
            wait_for(lambda: s.connect_ex(str(d.paths.api_socket)) == 0, what="api accepting")
        yield d
    finally:
        d.stop()
        cleanup_root(root)


def _streams_open(daemon, count: int = 1, timeout: float = 10.0) -> None:
    with _api(daemon) as c:
        wait_for(lambda: f"omd_gateway_streams {count:.1f}" in c.get("/metrics").text, timeout=timeout,
                 what=f"{count} streams open")


@pytest.fixture(scope="module")
def doc_filter_outputs():
    """`om node events --filter <expr>` for every doc filter at once, on one daemon and the
    same four events: {expr: (exit code, stdout, stderr)}. One daemon and one wait for the
    whole table, instead of one each (the table took 38 s as separate runs)."""
    root = short_root()
    daemon = Daemon(root)
    procs = {}
    try:
        daemon.start()
        wait_for(lambda: daemon.paths.api_socket.exists(), what="api socket")
        for expr in DOC_FILTERS:
            procs[expr] = subprocess.Popen(
                [sys.executable, "-m", "omd_cli.om", "node", "events", "--filter", expr, "--duration", "10",
                 "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "OMD_ROOT": str(root)})
        _streams_open(daemon, len(procs), timeout=8)  # within --duration: no stream ends early
        _istatus(daemon, "svc2", "n1")
        _istatus(daemon, "svc1", "n2")
        _istatus(daemon, "svc1", "n1", avail="down", fs="down", frozen_at="2026-01-01T00:00:00Z")
        _istatus(daemon, "svc1", "n1", avail="up", fs="up")
        outputs = {}
        for expr, proc in procs.items():
            out, err = proc.communicate(timeout=30)
            outputs[expr] = (proc.returncode, out, err)
        yield outputs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        daemon.stop()
        cleanup_root(root)


@pytest.mark.parametrize("expr", list(DOC_FILTERS))
def test_user_doc_filters(doc_filter_outputs, expr):
    """Each example filter of the user doc keeps exactly the events it should, live."""
    returncode, out, err = doc_filter_outputs[expr]
    assert returncode == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert [(e["data"]["path"], e["data"]["node"], e["data"]["instance_status"]["avail"]) for e in got] == DOC_FILTERS[expr]


WAITS = {
    # errata applied: object status is under .data.object_status, node status under .data.node_status
    "object up and provisioned": (
        ["--filter", "ObjectStatusUpdated,path=foo"],
        '{{if setSuccess (and (eq .data.object_status.avail "up") (eq .data.object_status.provisioned "true"))}}{{end}}'),
    "instance up and provisioned": (
        ["--filter", "InstanceStatusUpdated,path=foo,node=dev1n1"],
        '{{if setSuccess (and (eq .data.instance_status.avail "up") (eq .data.instance_status.provisioned "true"))}}{{end}}'),
    "node frozen": (
        ["--filter", "NodeStatusUpdated,node=dev1n1"],
        '{{if setSuccess (ne .data.node_status.frozen_at "0001-01-01T00:00:00Z")}}{{end}}'),
    "cluster frozen": (["--filter", "ClusterStatusUpdated"], "{{if setSuccess .data.cluster_status.is_frozen}}{{end}}"),
    "cluster unfrozen": (["--filter", "ClusterStatusUpdated"], "{{if setSuccess (not .data.cluster_status.is_frozen)}}{{end}}"),
    "3 objects up": (
        ["--filter", "ObjectStatusUpdated"],
        '{{if passSet (toInst .data.path .data.node) (eq .data.object_status.avail "up") -}}'
        ' {{with setSuccess (eq passCount 3)}}{{end}}{{end}}'),
    "3 foo objects up": (
        ["--filter", "ObjectStatusUpdated"],
        '{{if eq (slice .data.path 0 3) "foo" -}} {{if passSet .data.path (eq .data.object_status.avail "up") -}}'
        ' {{with setSuccess (eq passCount 3)}}{{end}}{{end}}{{end}}'),
}


def _make_true(daemon, name: str) -> None:
    ostat = {"avail": "up", "provisioned": "true", "overall": "up", "frozen": "unfrozen"}
    if name == "object up and provisioned":
        _post(daemon, "ObjectStatusUpdated", {"path": "foo", "node": "n1", "namespace": "root"},
              {"path": "foo", "node": "n1", "object_status": ostat})
    elif name == "instance up and provisioned":
        _istatus(daemon, "foo", "dev1n1")
    elif name == "node frozen":
        _post(daemon, "NodeStatusUpdated", {"node": "dev1n1"},
              {"node": "dev1n1", "node_status": {"frozen_at": "2026-11-26T00:00:00Z"}})
    elif name in ("cluster frozen", "cluster unfrozen"):
        _post(daemon, "ClusterStatusUpdated", {"node": "n1"},
              {"node": "n1", "cluster_status": {"is_frozen": name == "cluster frozen"}})
    else:
        names = ["foo1", "foo2", "bar", "foo3"] if "foo" in name else ["a1", "a2", "a3"]
        for path in names:
            _post(daemon, "ObjectStatusUpdated", {"path": path, "node": "n1", "namespace": "root"},
                  {"path": path, "node": "n1", "object_status": ostat})


@pytest.mark.parametrize("name", list(WAITS))
@pytest.mark.parametrize("when", ["later", "already"])
def test_user_doc_wait_templates(node, name, when):
    """Each (corrected) wait template of the user doc succeeds, whether the condition becomes
    true during the wait or was already true (answered from replay)."""
    args, template = WAITS[name]
    if when == "already":
        _make_true(node, name)
        result = _om(node, "node", "events", "--wait", "--duration", "10s", *args, "--template", template)
    else:
        proc = subprocess.Popen([sys.executable, "-m", "omd_cli.om", "node", "events", "--wait", "--duration", "20s",
                                 *args, "--template", template], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "OMD_ROOT": str(node.root)})
        with _api(node) as c:  # the stream is open once the gateway counts it
            wait_for(lambda: "omd_gateway_streams 1.0" in c.get("/metrics").text, what="wait stream open")
        _make_true(node, name)
        out, err = proc.communicate(timeout=30)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("wait succeed elapsed ")
    if "3" in name:
        assert " passed [" in result.stderr


def test_wait_failures_and_exit_codes(shared_node):
    """--wait fails with exit 1 on duration or limit; plain --duration and --limit exit 0."""
    node = shared_node
    tmpl = "{{if setSuccess false}}{{end}}"
    r = _om(node, "node", "events", "--wait", "--duration", "0.5", "--filter", "WatchDog", "--template", tmpl)
    assert r.returncode == 1 and "wait failed after" in r.stderr and "(context deadline exceeded)" in r.stderr
    r = _om(node, "node", "events", "--wait", "--limit", "1", "--filter", "WatchDog", "--template", tmpl)
    assert r.returncode == 1 and "(event count limit)" in r.stderr
    r = _om(node, "node", "events", "--duration", "0.3", "--filter", "ObjectStatusDone")
    assert r.returncode == 0 and r.stdout == ""
    r = _om(node, "node", "events", "--limit", "2", "--filter", "WatchDog", "-o", "json")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--filter", "InstanceStatusUpdate"], "InstanceStatusUpdated"),
        (["--template", "{{if}}"], "parse template error"),
        (["--wait"], "--wait needs a --template"),
        (["--duration", "soon"], "--duration"),
        (["--node", "elsewhere"], "--node elsewhere"),
    ],
)
def test_usage_errors_exit_2_before_connecting(shared_node, args, needle):
    """Bad filters, templates and flags exit 2 with a message pointing at the mistake."""
    node = shared_node
    r = _om(node, "node", "events", *args)
    assert r.returncode == 2, r
    assert needle in r.stderr


def test_template_field_warning(shared_node):
    """A template reading a field the filtered kind lacks gets a warning with the right name."""
    node = shared_node
    r = _om(node, "node", "events", "--wait", "--duration", "0.3", "--filter", "ObjectStatusUpdated",
            "--template", '{{if setSuccess (eq .data.instance_status.avail "up")}}{{end}}')
    assert "warning: the template reads .data.instance_status.avail" in r.stderr
    assert "object_status" in r.stderr
    r = _om(node, "node", "events", "--duration", "0.3", "--filter", 'ObjectStatusUpdated,.instance_status.avail="up"')
    assert "warning: the filter" in r.stderr and "did you mean object_status?" in r.stderr
    r = _om(node, "node", "events", "--duration", "0.3", "--filter", 'ObjectStatusUpdated,.object_status.avail="up"')
    assert "warning" not in r.stderr


def test_template_output_and_exec_errors(shared_node):
    """Templates print to stdout without a newline added; execution errors go to stderr."""
    node = shared_node
    _istatus(node, "svc1", "n1")
    r = _om(node, "node", "events", "--replay", "--limit", "1", "--filter", "InstanceStatusUpdated",
            "--template", '{{printf "instance %s@%s is %s\\n" .data.path .data.node .data.instance_status.avail}}')
    assert r.returncode == 0 and r.stdout == "instance svc1@n1 is up\n"
    r = _om(node, "node", "events", "--replay", "--limit", "1", "--filter", "InstanceStatusUpdated",
            "--template", "{{index .data.path 99}}")
    assert "template execute error" in r.stderr


def test_input_file_offline(node, tmp_path):
    """--input filters, renders and waits on a captured stream exactly as on a live one."""
    _istatus(node, "svc1", "n1")
    _istatus(node, "svc2", "n1", avail="down")
    capture = _om(node, "node", "events", "--replay", "--duration", "1", "-o", "json")
    lines = capture.stdout.splitlines() + ['{"kind":"FutureKind","id":1,"at":"","data":{"labels":null,"x":1}}', "garbage"]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = _om(node, "node", "events", "--input", str(path), "--filter", 'InstanceStatusUpdated,.instance_status.avail="up"',
            "-o", "json")
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["data"]["path"] for e in got] == ["svc1"]
    assert "not an event envelope" in r.stderr
    r = _om(node, "node", "events", "--input", "-", "--template", "{{.kind}} ", input=path.read_text())
    assert "FutureKind" in r.stdout.split()
    r = _om(node, "node", "events", "--input", str(path), "--wait", "--filter", "InstanceStatusUpdated",
            "--template", '{{if setSuccess (eq .data.path "svc2")}}{{end}}')
    assert r.returncode == 0 and "wait succeed" in r.stderr


def test_gateway_kill_during_stream_resumes_without_loss(node):
    """kill -9 of the gateway mid-stream: the CLI reconnects and resumes; no event lost or duplicated."""
    import zmq

    from omd.model.events import NodeStatsUpdated
    from omd.sockets import Publisher

    proc = subprocess.Popen([sys.executable, "-m", "omd_cli.om", "node", "events", "--filter", "NodeStatsUpdated,node=seq",
                             "-o", "json", "--limit", "40"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMD_ROOT": str(node.root)})
    ctx = zmq.Context()
    try:
        with _api(node) as c:
            wait_for(lambda: "omd_gateway_streams 1.0" in c.get("/metrics").text, what="stream open")
        # Each POST is answered once the journal holds the event, so the kill below loses none.
        for i in range(20):
            _post(node, "NodeStatsUpdated", {"node": "seq"}, {"node": "seq", "node_stats": {"score": i}})
        old = node.subsystem_pid("gateway")
        os.kill(old, signal.SIGKILL)
        # publish on the bus directly while the gateway is down: the journal keeps numbering them
        pub = Publisher(ctx, node.endpoint("in"), "n1", "test")
        try:
            for i in range(20, 40):
                ev = NodeStatsUpdated(node="seq", labels={"node": "seq"})
                ev.node_stats.score = i
                assert pub.publish(ev)
        finally:
            pub.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failure above: the stream would outlive the test
            proc.kill()
            proc.communicate()
        ctx.term()
    assert proc.returncode == 0, err
    scores = [json.loads(line)["data"]["node_stats"]["score"] for line in out.splitlines()]
    assert scores == list(range(40))
    assert "event stream broken" in err and "reconnected" in err


def test_ctrl_c_exits_130_quietly(node):
    """SIGINT ends the command with exit 130 and nothing on stderr."""
    # A test run started in the background inherits SIGINT ignored, and Python keeps an
    # inherited SIG_IGN: give the command the default disposition a terminal would.
    proc = subprocess.Popen([sys.executable, "-m", "omd_cli.om", "node", "events", "--filter", "ObjectStatusDone"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMD_ROOT": str(node.root)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    with _api(node) as c:
        wait_for(lambda: "omd_gateway_streams 1.0" in c.get("/metrics").text, what="stream open")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and err == ""


def test_daemon_not_running_is_a_clear_error(root):
    """Without a daemon, om node events says so and exits 1."""
    r = subprocess.run([sys.executable, "-m", "omd_cli.om", "node", "events"], capture_output=True, text=True,
                       env={**os.environ, "OMD_ROOT": str(root)}, timeout=20)
    assert r.returncode == 1 and "not running" in r.stderr


def test_help_teaches_filters_and_templates():
    """--help explains the filter language, templates and waits, with corrected examples."""
    result = CliRunner().invoke(om, ["node", "events", "--help"])
    assert result.exit_code == 0
    for needle in ("FILTERS", "<key>=<value>", '.instance_status.resources."fs#1".status="up"', "TEMPLATES",
                   "setSuccess", "object_status", "node_status", "--retry-timeout"):
        assert needle in result.output, needle
    assert "resources.\"fs#1\".avail" not in result.output


def test_aliases_and_daemon_events():
    """eve, even and event are aliases of events under node and daemon."""
    for group in ("node", "daemon"):
        for alias in ("eve", "even", "event", "events"):
            result = CliRunner().invoke(om, [group, alias, "--help"])
            assert result.exit_code == 0 and "Print the node event stream" in result.output


def test_filter_completion_offers_kind_names():
    """Shell completion of --filter proposes kind names, also after a comma."""
    from omd_cli.events import complete_filter

    assert "InstanceStatusUpdated" in complete_filter(None, None, "InstanceSt")
    assert "path=svc1,InstanceStatusUpdated" in complete_filter(None, None, "path=svc1,InstanceStatusU")


def test_ox_needs_a_context_and_reads_remote_tls(daemon_factory, root, tmp_path):
    """ox refuses without a context; with one it streams over TLS with a bearer token."""
    r = subprocess.run([sys.executable, "-m", "omd_cli.ox", "node", "events"], capture_output=True, text=True,
                       env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}, timeout=20)
    assert r.returncode == 2 and "--context must be specified" in r.stderr
    cert, key = root / "c.pem", root / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon_factory(f'[daemon]\nwatchdog_interval = 0.3\n[gateway]\ntcp_listen = "127.0.0.1:{port}"\n'
                       f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
                       'tokens = [{name = "ops", token = "opstoken1", role = "operator"}]\n')
    wait_for(lambda: d.paths.api_socket.exists(), what="api")
    (tmp_path / "omd").mkdir()
    (tmp_path / "omd" / "contexts.toml").write_text(
        f'[contexts.lab]\nserver = "https://127.0.0.1:{port}"\ntoken = "opstoken1"\nca = "{cert}"\n')
    r = subprocess.run([sys.executable, "-m", "omd_cli.ox", "--context", "lab", "node", "events", "--filter", "WatchDog",
                        "--limit", "1", "-o", "json"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "WatchDog"
    (tmp_path / "omd" / "contexts.toml").write_text(
        f'[contexts.lab]\nserver = "https://127.0.0.1:{port}"\ntoken = "wrongtoken"\nca = "{cert}"\n')
    r = subprocess.run([sys.executable, "-m", "omd_cli.ox", "--context", "lab", "node", "events"], capture_output=True,
                       text=True, timeout=30, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    assert r.returncode == 1 and "401" in r.stderr


def test_wait_survives_journal_restart_with_gap(node):
    """A journal restart mid-wait is reported as a gap on stderr; the wait re-evaluates the
    replayed state and succeeds."""
    tmpl = '{{if setSuccess (eq .data.object_status.avail "up")}}{{end}}'
    proc = subprocess.Popen([sys.executable, "-m", "omd_cli.om", "node", "events", "--wait", "--duration", "40s",
                             "--filter", "ObjectStatusUpdated,path=gapobj", "--template", tmpl],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMD_ROOT": str(node.root)})
    _streams_open(node)
    old = node.subsystem_pid("journal")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: node.status()["subsystems"]["journal"]["pid"] not in (0, old), what="journal restart")
    def post_until_done():
        if proc.poll() is not None:
            return True
        try:
            _post(node, "ObjectStatusUpdated", {"path": "gapobj", "node": "n1", "namespace": "root"},
                  {"path": "gapobj", "node": "n1", "object_status": {"avail": "up"}})
        except (AssertionError, httpx.HTTPError):
            pass
        return False
    wait_for(post_until_done, timeout=30, interval=0.5, what="wait to finish")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "gap: " in err and "wait succeed elapsed" in err


def test_gives_up_after_retry_timeout(node):
    """When the daemon goes away for good, the CLI retries, then exits 1 after --retry-timeout."""
    proc = subprocess.Popen([sys.executable, "-m", "omd_cli.om", "node", "events", "--retry-timeout", "1",
                             "--filter", "ObjectStatusDone"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMD_ROOT": str(node.root)})
    _streams_open(node)
    node.stop()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    # a clean stop is told as such (`: stop <reason>` from the server), not as a breakage or a gap
    assert "event stream ended: the server stopped (the gateway is stopping)" in err, err
    assert "event read error: gave up after" in err and "gap:" not in err, err


def test_om_daemon_start_status_stop_and_cluster_status(root):
    """om daemon start runs the daemon in the background; status, cluster status and stop work."""
    env = {**os.environ, "OMD_ROOT": str(root)}
    (root / "etc" / "omd").mkdir(parents=True)
    (root / "etc" / "omd" / "omd.toml").write_text("[daemon]\nwatchdog_interval = 0.5\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "omd_cli.om", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=60)
    try:
        r = run("daemon", "start")
        assert r.returncode == 0 and "omd started" in r.stdout, r.stderr
        assert run("daemon", "start").stdout.startswith("omd is already running")
        r = run("daemon", "status")
        assert r.returncode == 0 and "gateway" in r.stdout and "journal" in r.stdout
        r = run("cluster", "status", "-o", "json")
        assert r.returncode == 0 and "cluster" in json.loads(r.stdout)
        r = run("cluster", "status", "-o", "human")
        assert r.returncode == 0 and r.stdout.startswith("cluster")
        r = run("daemon", "restart")
        assert r.returncode == 0 and "omd stopped" in r.stdout and "omd started" in r.stdout
    finally:
        r = run("daemon", "stop")
    assert r.returncode == 0 and "omd stopped" in r.stdout
    r = run("daemon", "status")
    assert r.returncode == 3


LINE = '{{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}'
LABEL_TEMPLATES = {
    "simple": (["--filter", "InstanceMonitorUpdated"], LINE,
               ["foo001@dev1n1 idle", "foo002@dev1n2 starting", "foo@dev1n1 idle", "foo@dev1n3 idle"]),
    "by node": (["--filter", "InstanceMonitorUpdated,path=foo"],
                '{{if hasNodeLabel .data.labels "dev1n1" "dev1n2" -}} ' + LINE + "{{end}}", ["foo@dev1n1 idle"]),
    "by path": (["--filter", "InstanceMonitorUpdated,node=dev1n1"],
                '{{if hasPathLabel .data.labels "foo001" "foo002" -}} ' + LINE + "{{end}}", ["foo001@dev1n1 idle"]),
    "by instance": (["--filter", "InstanceMonitorUpdated"],
                    '{{if hasInstanceLabel .data.labels "foo001@dev1n1" "foo002@dev1n2" -}} ' + LINE + "{{end}}",
                    ["foo001@dev1n1 idle", "foo002@dev1n2 starting"]),
}


@pytest.mark.parametrize("name", list(LABEL_TEMPLATES))
def test_user_doc_formatting_and_label_templates(shared_node, name):
    """The doc's formatting and label-filtering templates print what upstream would (label
    helpers taking the labels map that events really carry)."""
    node = shared_node
    for path, nodename, state in (("foo001", "dev1n1", "idle"), ("foo002", "dev1n2", "starting"),
                                  ("foo", "dev1n1", "idle"), ("foo", "dev1n3", "idle")):
        _post(node, "InstanceMonitorUpdated", {"path": path, "node": nodename, "namespace": "root"},
              {"path": path, "node": nodename, "instance_monitor": {"state": state}})
    args, template, expected = LABEL_TEMPLATES[name]
    r = _om(node, "node", "events", "--replay", "--duration", "1.5", *args, "--template", template)
    assert r.returncode == 0, r.stderr
    got = sorted(line.removeprefix(" ").removeprefix("instance ").replace(" monitor state is ", " ")
                 for line in r.stdout.splitlines())
    assert got == sorted(expected)


def test_freeze_commands_drive_the_wait_templates(node):
    """om node freeze/unfreeze and om <path> freeze flip the statuses the doc's waits read."""
    frozen = '{{if setSuccess (ne .data.node_status.frozen_at "0001-01-01T00:00:00Z")}}{{end}}'
    r = _om(node, "node", "freeze")
    assert r.returncode == 0 and "frozen at" in r.stdout, r.stderr
    r = _om(node, "node", "events", "--wait", "--duration", "10s", "--filter", "NodeStatusUpdated", "--template", frozen)
    assert r.returncode == 0, r.stderr
    r = _om(node, "node", "events", "--wait", "--duration", "10s", "--filter", "ClusterStatusUpdated",
            "--template", "{{if setSuccess .data.cluster_status.is_frozen}}{{end}}")
    assert r.returncode == 0, r.stderr
    r = _om(node, "node", "unfreeze")
    assert r.returncode == 0 and "unfrozen" in r.stdout
    r = _om(node, "node", "events", "--wait", "--duration", "10s", "--filter", "ClusterStatusUpdated",
            "--template", "{{if setSuccess (not .data.cluster_status.is_frozen)}}{{end}}")
    assert r.returncode == 0, r.stderr
    assert _om(node, "node", "unfreeze").stdout.endswith("was not frozen\n")
    r = _om(node, "ns1/svc/nosuch", "freeze")  # no config on this node: refused, no flag
    assert r.returncode == 1 and "no object 'ns1/svc/nosuch' on this node" in r.stderr, r.stderr
    assert not (node.paths.lib / "namespaces" / "ns1" / "svc" / "nosuch" / "frozen").exists()
    from omd.objects import ObjectPath

    cfg = ObjectPath.parse("ns1/svc/web").config_file(node.paths)
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("[DEFAULT]\nnodes = *\n")
    r = _om(node, "ns1/svc/web", "freeze")
    assert r.returncode == 0 and r.stdout.startswith("ns1/svc/web@"), r.stderr
    assert (node.paths.lib / "namespaces" / "ns1" / "svc" / "web" / "frozen").exists()
    r = _om(node, "ns1/svc/web", "unfreeze")
    assert r.returncode == 0 and "unfrozen" in r.stdout
    r = _om(node, "Not/A/Path/x", "freeze")
    assert r.returncode == 2 and "No such command" in r.stderr


def test_post_status_command_drives_instance_and_object_waits(node):
    """om <path> post-status posts an instance status; the doc's instance and object waits succeed."""
    cfg = node.paths.etc / "foo.conf"
    cfg.write_text("[DEFAULT]\nnodes = *\ntopology = failover\n\n[fs#1]\ntype = flag\n")
    doc = json.dumps({"avail": "up", "overall": "up", "provisioned": "true",
                      "resources": {"fs#1": {"status": "up", "label": "fs", "type": "fs.flag"}}})
    r = _om(node, "foo", "post-status", "--file", "-", input=doc)
    assert r.returncode == 0 and r.stdout.startswith("foo@"), r.stderr
    nodename = node.status()["node"]
    inst = ('{{if setSuccess (and (eq .data.instance_status.avail "up") '
            '(eq .data.instance_status.provisioned "true"))}}{{end}}')
    r = _om(node, "node", "events", "--wait", "--duration", "15s", "--filter",
            f"InstanceStatusUpdated,path=foo,node={nodename}", "--template", inst)
    assert r.returncode == 0, r.stderr
    obj = ('{{if setSuccess (and (eq .data.object_status.avail "up") '
           '(eq .data.object_status.provisioned "true"))}}{{end}}')
    r = _om(node, "node", "events", "--wait", "--duration", "15s", "--filter", "ObjectStatusUpdated,path=foo",
            "--template", obj)
    assert r.returncode == 0, r.stderr
    r = _om(node, "node", "events", "--replay", "--limit", "1", "-o", "json", "--filter",
            'InstanceStatusUpdated,path=foo,.instance_status.resources."fs#1".status="up"')
    assert r.returncode == 0 and json.loads(r.stdout)["data"]["path"] == "foo"
    r = _om(node, "foo", "post-status")
    assert r.returncode == 2 and "--avail" in r.stderr


def test_three_objects_up_driven_by_the_cli(node):
    """Config files plus `om <path> post-status` make omon publish object statuses; the doc's
    '3 objects up' and '3 foo objects up' waits succeed on them."""
    for name in ("foo1", "foo2", "foo3", "bar"):
        (node.paths.etc / f"{name}.conf").write_text("[DEFAULT]\nnodes = *\ntopology = failover\n")
    for name in ("foo1", "foo2", "foo3", "bar"):
        r = _om(node, name, "post-status", "--avail", "up", "--overall", "up", "--provisioned", "true")
        assert r.returncode == 0, r.stderr
    for name in ("3 objects up", "3 foo objects up"):
        args, template = WAITS[name]
        r = _om(node, "node", "events", "--wait", "--duration", "20s", *args, "--template", template)
        assert r.returncode == 0, (name, r.stderr)
        assert " passed [" in r.stderr


def test_post_status_refuses_bad_values_and_unknown_objects(node):
    """A status value istat would drop is refused at the API (400 naming the field, exit 2), and a
    status for an object with no config file here is refused (404), neither shows in the dataset."""
    (node.paths.etc / "svc1.conf").write_text("[DEFAULT]\nnodes = *\n")
    r = _om(node, "svc1", "post-status", "--avail", "sideways")
    assert r.returncode == 2 and "instance_status.avail" in r.stderr and "sideways" in r.stderr, r
    assert "Traceback" not in r.stderr
    r = _om(node, "nosuchsvc", "post-status", "--avail", "up")
    assert r.returncode == 1 and "no object 'nosuchsvc'" in r.stderr, r
    r = _om(node, "svc1", "post-status", "--avail", "up")
    assert r.returncode == 0 and r.stdout.startswith("svc1@"), r.stderr
