"""The journal's checks: events refused before they get an id, state files validated on load,
and an id counter that never goes back."""

from __future__ import annotations

import json
import shutil

import pytest
import structlog

from omd.model import sse
from omd.model.state import dataset
from omd.model.wire import encode_meta, encode_topic
from omd.paths import Paths
from omd.subsystems.journal import (U64_MAX, IdAllocator, IdbaseError, Journal, repair_idbase)
from omd.subsystems.journal import validate
from omd.subsystems.journal.protocol import pack_record

AT = "2026-01-01T00:00:00.000000000Z"


@pytest.fixture
def paths(run_paths: Paths) -> Paths:
    """The Paths of a fresh short root."""
    return run_paths


def _compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _stats_event(node: str = "a", **extra) -> tuple[str, dict, bytes, bytes, bytes]:
    labels = {"node": node}
    data = {"labels": labels, "node": node, "node_stats": {"score": 1}, **extra}
    return "NodeStatsUpdated", labels, encode_topic("NodeStatsUpdated", labels), encode_meta("n1", "t:1", 1, AT), _compact(data)


def _check(kind, labels, topic, meta, data, at=AT, size=validate.DEFAULT_MAX_EVENT_SIZE):
    return validate.check(kind, labels, topic, meta, at, data, size)


# ---------------------------------------------------------------------- refused events


def test_a_well_formed_event_is_accepted():
    """A typed event whose data labels match its topic passes every check."""
    assert _check(*_stats_event()) is None


def test_newline_in_at_is_refused():
    """An `at` with LF (an injected `id:` line) is refused with cause meta."""
    kind, labels, topic, meta, data = _stats_event()
    assert _check(kind, labels, topic, meta, data, at=AT + "\nid: 99999999999") == "meta"
    assert _check(kind, labels, topic, meta, data, at="yesterday") == "meta"


def test_raw_newline_or_invalid_json_in_data_is_refused():
    """Data with a raw CR/LF (valid JSON whitespace, but it would end the data field) or not JSON is refused."""
    kind, labels, topic, meta, data = _stats_event()
    assert _check(kind, labels, topic, meta, data[:-1] + b"\n\nevent: InstanceStatusUpdated\ndata: {}}") == "data"
    assert _check(kind, labels, topic, meta, data.replace(b",", b",\r\n", 1)) == "data"
    assert _check(kind, labels, topic, meta, b"{not json at all") == "data"


def test_mistyped_state_event_is_refused():
    """A state event whose fields do not decode (node as a list) is refused, never stored."""
    kind, labels, topic, meta, _ = _stats_event()
    bad = _compact({"labels": labels, "node": [1], "node_stats": {"score": 1}})
    assert _check(kind, labels, topic, meta, bad) == "data"


def test_data_labels_and_namespace_must_agree_with_the_topic():
    """Data labels unlike the topic's, or a data path in another namespace, are refused (cause labels)."""
    kind, labels, topic, meta, _ = _stats_event()
    assert _check(kind, labels, topic, meta, _compact({"labels": {"node": "b"}, "node": "a"})) == "labels"
    ilabels = {"namespace": "ns1", "node": "n1", "path": "ns1/svc/web"}
    itopic = encode_topic("InstanceStatusUpdated", ilabels)
    good = {"labels": ilabels, "node": "n1", "path": "ns1/svc/web", "instance_status": {}}
    assert _check("InstanceStatusUpdated", ilabels, itopic, meta, _compact(good)) is None
    rlabels = {"namespace": "root", "node": "n1", "path": "vol/v1"}
    rdata = {"labels": rlabels, "node": "n1", "path": "vol/v1", "instance_status": {}}
    assert _check("InstanceStatusUpdated", rlabels, encode_topic("InstanceStatusUpdated", rlabels), meta,
                  _compact(rdata)) is None
    other = dict(good, path="ns2/svc/db")
    assert _check("InstanceStatusUpdated", ilabels, itopic, meta, _compact(other)) == "labels"
    lying = dict(ilabels, path="ns2/svc/db")
    assert _check("InstanceStatusUpdated", lying, encode_topic("InstanceStatusUpdated", lying), meta,
                  _compact(dict(good, labels=lying, path="ns2/svc/db"))) == "labels"


def test_the_path_label_must_name_the_data_path_and_carry_its_namespace():
    """The forgeries of the hardening issue, at the journal (the one place every event passes):
    a path label without a namespace label (readers are filtered on the namespace label, so
    it reached every namespace), and a path label naming another object than data.path."""
    _, _, _, meta, _ = _stats_event()
    unlabelled = {"node": "n1", "path": "ns2/svc/b"}
    data = {"labels": unlabelled, "node": "n1", "path": "ns2/svc/b", "instance_status": {}}
    assert _check("InstanceStatusUpdated", unlabelled, encode_topic("InstanceStatusUpdated", unlabelled), meta,
                  _compact(data)) == "labels"
    crossed = {"namespace": "ns1", "node": "n1", "path": "ns1/svc/a"}
    data = {"labels": crossed, "node": "n1", "path": "ns1/svc/b", "instance_status": {}}
    assert _check("InstanceStatusUpdated", crossed, encode_topic("InstanceStatusUpdated", crossed), meta,
                  _compact(data)) == "labels"
    invalid = {"namespace": "root", "node": "n1", "path": "Bad Path"}
    assert _check("ObjectDeleted", invalid, encode_topic("ObjectDeleted", invalid), meta,
                  _compact({"labels": invalid, "path": "Bad Path", "node": "n1"})) == "labels"


def test_events_above_the_maximum_size_are_refused():
    """topic + meta + data above max_event_size is refused with cause too_large."""
    kind, labels, topic, meta, data = _stats_event(pad="x" * 5000)
    assert _check(kind, labels, topic, meta, data, size=4096) == "too_large"
    assert _check(kind, labels, topic, meta, data, size=len(topic) + len(meta) + len(data)) is None


def test_refused_events_are_counted_and_logged_once_per_interval(paths):
    """Journal.accept counts each refusal by cause in stats and logs a cause at most once per interval."""
    journal = Journal(paths, ring_size=10)
    kind, labels, topic, meta, data = _stats_event()
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            assert not journal.accept(kind, labels, topic, meta, AT, b"{not json")
        assert journal.accept(kind, labels, topic, meta, AT, data)
    assert journal.stats()["refused"] == {"data": 5}
    assert [e["event"] for e in logs].count("journal_event_refused") == 1
    journal.close()


def test_sse_framer_refuses_bytes_that_end_a_field():
    """The framer (second line of defence) refuses CR/LF in kind, at and data."""
    with pytest.raises(sse.FrameFieldError):
        sse.head("Kind", 1, AT + "\nid: 5")
    with pytest.raises(sse.FrameFieldError):
        sse.head("Kind\r", 1, AT)
    with pytest.raises(sse.FrameFieldError):
        sse.frame("Kind", 1, AT, b'{"a":\n1}')
    with pytest.raises(sse.FrameFieldError):
        pack_record(1, "Kind", b"Kind\0", AT, b'{"a":\n1}', b"p", 1)


# ---------------------------------------------------------------------- state files


def _row(eid: int, node: str, **data) -> list:
    kind, labels, topic, meta, payload = _stats_event(node)
    if data:
        payload = _compact({"labels": labels, "node": node, "node_stats": {"score": 1}, **data})
    return [eid, kind, topic.decode(), meta.decode(), payload.decode()]


def _write_log(journal_dir, rows) -> None:
    """Write state.log rows (and an idbase of 1, below them: the state witnesses the ids)."""
    journal_dir.mkdir(parents=True, exist_ok=True)
    (journal_dir / "idbase").write_text("1\n")
    with open(journal_dir / "state.log", "w") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


@pytest.mark.parametrize("content", ["{}", "null", "5", '"x"', "[[1, 2, 3]]"])
def test_state_json_that_is_not_rows_keeps_the_log_rows(paths, content):
    """state.json of {}, null, 5 ... is reported and ignored; the rows of state.log still load."""
    d = paths.lib / "journal"
    _write_log(d, [_row(1, "a"), _row(2, "b")])
    (d / "state.json").write_text(content)
    journal = Journal(paths, ring_size=10)
    assert sorted(e.obj["node"] for e in journal.state.entries()) == ["a", "b"]
    assert journal.ids.first > 2
    journal.close()


def test_rows_of_wrong_types_or_undecodable_data_are_skipped(paths):
    """Rows of wrong types, or whose data does not decode (node [1]), are skipped; the dataset builds."""
    d = paths.lib / "journal"
    wrong_types = [1, 2, 3, 4, 5]
    poisoned = _row(3, "x")
    poisoned[4] = _compact({"labels": {"node": "x"}, "node": [1], "node_stats": {}}).decode()
    _write_log(d, [_row(1, "a"), wrong_types, ["1", "NodeStatsUpdated", "", "", ""], poisoned,
                   [True, "NodeStatsUpdated", "", "", ""], _row(4, "b")])
    with structlog.testing.capture_logs() as logs:
        journal = Journal(paths, ring_size=10)
    assert sorted(e.obj["node"] for e in journal.state.entries()) == ["a", "b"]
    assert any(e["event"] == "journal_state_log_bad_lines" and e["count"] == 4 for e in logs)
    assert set(dataset(journal.state.entries(), "n1")["cluster"]["node"]) == {"a", "b"}
    journal.close()


def test_a_line_cut_in_the_middle_loses_only_itself(paths):
    """A line cut short (a crash) followed by more lines: the later rows load and survive compaction."""
    d = paths.lib / "journal"
    _write_log(d, [_row(1, "a"), json.dumps(_row(2, "cut"))[:40], _row(3, "b"), _row(4, "c")])
    journal = Journal(paths, ring_size=10)
    journal.close()
    again = Journal(paths, ring_size=10)
    assert sorted(e.obj["node"] for e in again.state.entries()) == ["a", "b", "c"]
    again.close()


# ---------------------------------------------------------------------- ids


def _journal_with_ids(paths: Paths, n: int = 3) -> int:
    journal = Journal(paths, ring_size=10)
    for i in range(n):
        kind, labels, topic, meta, data = _stats_event(f"n{i}")
        journal.record(kind, topic, meta, data, AT)
    last = journal.ids.last
    journal.close()
    return last


@pytest.mark.parametrize("bad", ["abc", "-5", "", "18446744073710551000", None])
def test_a_damaged_idbase_with_a_good_copy_never_goes_back(paths, bad):
    """idbase set to abc, -5, empty, above 2^64 or deleted: the copy keeps ids going forward."""
    last = _journal_with_ids(paths)
    idbase = paths.lib / "journal" / "idbase"
    if bad is None:
        idbase.unlink()
    else:
        idbase.write_text(bad)
    with structlog.testing.capture_logs() as logs:
        journal = Journal(paths, ring_size=10)
    assert journal.ids.first > last
    assert any(e["event"] == "journal_idbase_repaired" for e in logs)
    assert idbase.read_text().strip() == str(journal.ids.limit)  # rewritten
    journal.close()


@pytest.mark.parametrize("bad", ["abc", "-5", None])
def test_no_readable_idbase_refuses_to_start_until_repaired(paths, bad):
    """Both id files unreadable or gone while state rows exist: IdbaseError; repair-idbase goes past the state."""
    last = _journal_with_ids(paths)
    for f in (paths.lib / "journal" / "idbase", paths.lib / "journal.idbase"):
        if bad is None:
            f.unlink()
        else:
            f.write_text(bad)
    with pytest.raises(IdbaseError, match="repair-idbase"):
        Journal(paths, ring_size=10)
    value = repair_idbase(paths)
    assert value > last + 1_000_000 - 1
    journal = Journal(paths, ring_size=10)
    assert journal.ids.first == value
    journal.close()
    assert repair_idbase(paths, next_id=value + 5) >= value + 5


def test_the_state_files_witness_ids_when_idbase_is_behind(paths):
    """An idbase (and copy) below the highest state id: ids start past the state's."""
    _write_log(paths.lib / "journal", [_row(500, "a")])
    for f in (paths.lib / "journal" / "idbase", paths.lib / "journal.idbase"):
        f.write_text("25\n")
    journal = Journal(paths, ring_size=10)
    assert journal.ids.first == 501
    journal.close()


def test_ids_near_the_u64_limit_stop_at_it(paths):
    """An idbase near 2^64 never writes an id above it: ids end at 2^64-1, then events are refused."""
    for f in (paths.lib / "journal" / "idbase", paths.lib / "journal.idbase"):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"{U64_MAX - 1}\n")
    journal = Journal(paths, ring_size=10)
    kind, labels, topic, meta, data = _stats_event()
    ids = []
    while journal.accept(kind, labels, topic, meta, AT, data):
        ids.append(journal.ids.take())
    assert ids == [U64_MAX - 1, U64_MAX]
    assert journal.stats()["refused"] == {"ids_exhausted": 1}
    journal.close()
    assert int((paths.lib / "journal" / "idbase").read_text()) == U64_MAX + 1
    again = Journal(paths, ring_size=10)
    assert again.ids.exhausted
    again.close()


def test_journal_directory_deleted_while_running_is_written_again(paths):
    """Deleting journal/ while the journal runs: maintain() writes idbase and state back; no id reused."""
    journal = Journal(paths, ring_size=10)
    kind, labels, topic, meta, data = _stats_event()
    journal.record(kind, topic, meta, data, AT)
    journal.flush()
    last = journal.ids.last
    shutil.rmtree(paths.lib / "journal")
    (paths.lib / "journal.idbase").unlink()
    journal.maintain()
    journal.close()
    again = Journal(paths, ring_size=10)
    assert again.ids.first > last and len(again.state) == 1
    again.close()


def test_fresh_root_starts_at_one(paths):
    """No id file and no state: a new node starts at id 1."""
    alloc = IdAllocator(paths.lib / "journal" / "idbase", copy=paths.lib / "journal.idbase")
    assert alloc.take() == 1


def test_the_state_key_from_the_checked_event_is_the_key_from_its_json():
    """The journal folds a checked event into its state by the typed event the check decoded
    (one decode per event); the key must be the one the JSON gives, which the state files'
    load uses, or a restart would keep two entries for one identity."""
    from omd.model.events import KINDS, decode_data, identity_of, identity_of_event

    samples = {
        "InstanceStatusUpdated": {"labels": {"namespace": "ns1", "node": "n1", "path": "ns1/svc/a"},
                                  "path": "ns1/svc/a", "node": "n1"},
        "NodeStatsUpdated": {"labels": {"node": "n2"}, "node": "n2"},
        "NodeStatusUpdated": {"labels": {"node": "n3"}},  # node left out: both give ""
    }
    for kind, data in samples.items():
        info = KINDS[kind]
        event = decode_data(kind, _compact(data))
        assert identity_of_event(info, event) == identity_of(info, data), kind
    for kind, info in KINDS.items():  # every identity field is a str defaulting to ""
        for name in info.identity:
            if not name.startswith("labels."):
                assert getattr(info.type(), name) == "", (kind, name)
