"""`om` at its edges, run as real commands: encoded JSON lines, bytes a template cut, help
that lists the kinds, errors that say what was meant (issue: the edges a new user hits)."""

from __future__ import annotations

import json
import subprocess
import sys

from omd.model.events import KIND_NAMES


def _om(*args: str, input_file=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omd_cli.om", *args], capture_output=True, timeout=60)


def _input(tmp_path, *events: dict) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


def test_json_output_encodes_kind_and_at_from_input(tmp_path):
    """A kind or an `at` holding a quote (only --input can bring one) still gives a JSON line."""
    path = _input(tmp_path, {"kind": 'Lo"g', "id": 1, "at": '2026"\\', "data": {"labels": {}, "x": "é"}},
                  {"kind": "NodeStatsUpdated", "id": 2, "at": "2026-01-01T00:00:00Z", "data": {"labels": {}}})
    r = _om("node", "events", "--input", path, "-o", "json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert lines[0] == {"kind": 'Lo"g', "id": 1, "at": '2026"\\', "data": {"labels": {}, "x": "é"}}
    assert lines[1]["kind"] == "NodeStatsUpdated" and lines[1]["id"] == 2


def test_template_slicing_a_utf8_sequence_writes_the_bytes_as_go(tmp_path):
    """Go slices strings by bytes: `slice "héllo" 0 2` is `h` and the first byte of `é`."""
    path = _input(tmp_path, {"kind": "Log", "id": 1, "at": "2026-01-01T00:00:00Z",
                             "data": {"labels": {}, "s": "héllo"}})
    r = _om("node", "events", "--input", path, "--template", "{{slice .data.s 0 2}}|{{slice .data.s 1 3}}")
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert r.stdout == b"h\xc3|\xc3\xa9"


def test_events_help_lists_every_kind():
    r = _om("node", "events", "--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "KINDS" in out
    kinds_part = out[out.index("KINDS"):]
    missing = [k for k in KIND_NAMES if k not in kinds_part.split()]
    assert not missing, missing


def test_a_mistyped_command_is_named_with_what_was_meant():
    r = _om("nod", "events")
    assert r.returncode == 2
    assert "Did you mean 'om node events'?" in r.stderr.decode(), r.stderr
    r = _om("node", "evnts")
    assert r.returncode == 2 and "Did you mean 'events'?" in r.stderr.decode(), r.stderr
    r = _om("svc1", "frezze")
    assert r.returncode == 2 and "Did you mean 'freeze'" in r.stderr.decode(), r.stderr


def test_a_bad_object_path_says_what_is_wrong_with_it():
    r = _om("Svc1", "freeze")
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err
    assert "not an object path" in err and "lowercase" in err, err


STATUS = [
    {"kind": "InstanceStatusUpdated", "id": 1, "at": "2026-01-01T00:00:00Z",
     "data": {"labels": {"path": "svc1", "node": "n1"}, "path": "svc1", "node": "n1",
              "instance_status": {"avail": "up", "overall": "up"}}},
    {"kind": "InstanceStatusUpdated", "id": 2, "at": "2026-01-01T00:00:01Z",
     "data": {"labels": {"path": "svc1", "node": "n1"}, "path": "svc1", "node": "n1",
              "instance_status": {"avail": "down", "overall": "up"}}},
    {"kind": "InstanceStatusDeleted", "id": 3, "at": "2026-01-01T00:00:02Z",
     "data": {"labels": {"path": "svc1", "node": "n1"}, "path": "svc1", "node": "n1"}},
]


def test_yaml_output_is_one_document_per_event(tmp_path):
    import yaml

    r = _om("node", "events", "--input", _input(tmp_path, *STATUS), "-o", "yaml")
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert docs == [{"kind": e["kind"], "id": e["id"], "at": e["at"], "data": e["data"]} for e in STATUS]
    assert r.stdout.startswith(b"---\n")


def test_jsonline_is_json(tmp_path):
    path = _input(tmp_path, *STATUS)
    assert _om("node", "events", "--input", path, "-o", "jsonline").stdout == \
        _om("node", "events", "--input", path, "-o", "json").stdout


def test_diff_output_prints_what_changed_per_object(tmp_path):
    r = _om("node", "events", "--input", _input(tmp_path, *STATUS), "-o", "diff")
    assert r.returncode == 0, r.stderr
    key = "InstanceStatusUpdated,path=svc1,node=n1"
    assert r.stdout.decode() == (
        f"{key}\n+ instance_status.avail = \"up\"\n+ instance_status.overall = \"up\"\n"
        f"+ node = \"n1\"\n+ path = \"svc1\"\n"
        f"{key}\n- instance_status.avail = \"up\"\n+ instance_status.avail = \"down\"\n"
        f"{key}\n- (deleted)\n")


def test_tab_output_has_a_header_and_a_row_per_event(tmp_path):
    r = _om("node", "events", "--input", _input(tmp_path, *STATUS), "-o",
            "tab=ID:.id,KIND:.kind,AVAIL:.data.instance_status.avail")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.decode().splitlines()]
    assert rows == [["ID", "KIND", "AVAIL"], ["1", "InstanceStatusUpdated", "up"],
                    ["2", "InstanceStatusUpdated", "down"], ["3", "InstanceStatusDeleted", "<none>"]]
    bad = _om("node", "events", "--input", _input(tmp_path, *STATUS), "-o", "tab=ID")
    assert bad.returncode == 2 and b"HEADER:.path" in bad.stderr and b"Traceback" not in bad.stderr


def test_template_output_format_is_the_template_option(tmp_path):
    path = _input(tmp_path, *STATUS)
    r = _om("node", "events", "--input", path, "-o", "template={{.kind}} {{.id}}\n")
    assert r.returncode == 0 and r.stdout == b"InstanceStatusUpdated 1\nInstanceStatusUpdated 2\nInstanceStatusDeleted 3\n"
    both = _om("node", "events", "--input", path, "-o", "template={{.kind}}", "--template", "{{.id}}")
    assert both.returncode == 2 and b"give the template once" in both.stderr


def test_limit_counts_events_also_with_a_template(tmp_path):
    """--limit N stops after N events, evaluated by the template or printed (as upstream)."""
    r = _om("node", "events", "--input", _input(tmp_path, *STATUS), "--limit", "2",
            "--template", "{{if eq .id 2.0}}two{{end}}")
    assert r.returncode == 0 and r.stdout == b"two"
    r = _om("node", "events", "--input", _input(tmp_path, *STATUS), "--limit", "1",
            "--template", "{{if eq .id 2.0}}two{{end}}")
    assert r.returncode == 0 and r.stdout == b""


def _on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """Run `om args` with its stdout on a pty; everything it wrote."""
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "omd_cli.om", *args], stdout=follower,
                                stderr=subprocess.PIPE, env={**os.environ, **env})
        os.close(follower)
        follower = -1
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(60) == 0, proc.stderr.read()
        proc.stderr.close()
        return out
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def test_no_color_is_honoured_on_a_terminal(tmp_path):
    path = _input(tmp_path, *STATUS)
    coloured = _on_a_terminal(["node", "events", "--input", path], {"NO_COLOR": ""})
    assert b"\x1b[" in coloured and b"InstanceStatusUpdated" in coloured
    plain = _on_a_terminal(["node", "events", "--input", path], {"NO_COLOR": "1"})
    assert b"\x1b[" not in plain and b"InstanceStatusUpdated" in plain
    forced = _on_a_terminal(["node", "events", "--input", path, "--color", "yes"], {"NO_COLOR": "1"})
    assert b"\x1b[" in forced


def _complete(words: str, cword: int) -> list[str]:
    import os

    r = subprocess.run([sys.executable, "-m", "omd_cli.om"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "_OM_COMPLETE": "bash_complete", "COMP_WORDS": words,
                            "COMP_CWORD": str(cword)})
    assert r.returncode == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines()]


def test_filter_completion_after_a_label_as_bash_splits_it():
    """Bash splits `path=svc1,InstanceSt` at `=` (COMP_WORDBREAKS): the kinds still complete,
    given back relative to bash's current word."""
    got = _complete("om node events --filter path = svc1,InstanceSt", 6)
    assert "svc1,InstanceStatusUpdated" in got and all(g.startswith("svc1,InstanceSt") for g in got)
    got = _complete("om node events --filter InstanceSt", 4)
    assert "InstanceStatusUpdated" in got
    got = _complete("om node events --filter = InstanceSt", 5)  # --filter=InstanceSt
    assert "InstanceStatusUpdated" in got


def test_om_daemon_status_json_when_not_running(tmp_path):
    import os

    r = subprocess.run([sys.executable, "-m", "omd_cli.om", "daemon", "status", "--json"], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "OMD_ROOT": str(tmp_path)})
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert json.loads(r.stdout) == {"running": False, "root": str(tmp_path)}
