"""The journal and the state files of istat and discover when their disk fails (full, read-only)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from omd import statefile
from omd.daemon import readiness
from omd.model.wire import encode_meta, encode_topic
from omd.paths import Paths
from omd.subsystems import journal as journal_mod
from omd.subsystems.journal import Journal
from omd.subsystems.journal.protocol import Events, unpack_records

REAL_FSYNC = os.fsync
AT = "2026-01-01T00:00:00.000000000Z"


@pytest.fixture
def health(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The readiness reports made (instead of writing them to a supervisor's pipe)."""
    calls: list[str] = []
    monkeypatch.setattr(readiness, "health", calls.append)
    return calls


def _post(journal: Journal, node: str, seq: int = 1) -> bool:
    """Offer a NodeStatsUpdated of `node` as the bus would; whether it was numbered."""
    labels = {"node": node}
    topic = encode_topic("NodeStatsUpdated", labels)
    data = json.dumps({"labels": labels, "node": node, "node_stats": {"score": seq}}, separators=(",", ":")).encode()
    meta = encode_meta("n1", "test:1", seq, AT)
    if not journal.accept("NodeStatsUpdated", labels, topic, meta, AT, data):
        return False
    journal.record("NodeStatsUpdated", topic, meta, data, AT, "test:1", seq)
    journal.flush()
    return True


def _enospc(*_args: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


class _FullLog:
    """A state log on a full disk."""

    def write(self, _data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "state.log")

    def close(self) -> None:
        pass


def _notices(journal: Journal) -> list[dict[str, object]]:
    return [json.loads(r.data) for r in unpack_records(b"".join(journal.notices)) if r.kind == "SubscriptionError"]


def test_state_log_write_failure_degrades_then_recovers(run_paths: Paths, health: list[str]) -> None:
    """A failed state-log write keeps the event served, reports degraded with a notice, and a
    retry compacts everything in memory to disk and reports healthy."""
    journal = Journal(run_paths, ring_size=100)
    assert _post(journal, "a", 1)
    journal._log.close()
    journal._log = _FullLog()
    assert _post(journal, "b", 2)  # numbered and served from memory
    assert journal.disk_error and "ENOSPC" in journal.disk_error
    assert health and health[-1].startswith("journal disk: ENOSPC")
    notice = _notices(journal)[-1]
    assert notice["cause"] == "not_durable" and notice["since"] == 2
    reply = journal.since(0)
    assert not isinstance(reply, type(None)) and [r.kind for r in unpack_records(reply[1])][:2] == [
        "NodeStatsUpdated", "NodeStatsUpdated"]
    stats = journal.stats()
    assert stats["durable"] is False and stats["disk_failures"] == 1
    assert _post(journal, "c", 3)  # not retried on every batch: the state stays in memory
    journal.notices.clear()
    assert journal.recover(now=float("inf"))
    assert journal.disk_error is None and health[-1] == ""
    assert _notices(journal)[-1]["cause"] == "durable"
    saved = {row[2] for row in json.loads((journal.dir / "state.json").read_text())}
    assert {encode_topic("NodeStatsUpdated", {"node": n}).decode() for n in "abc"} <= saved
    journal.close()


def test_full_disk_at_start_refuses_ids_and_leaves_no_temporary(run_paths: Paths, health: list[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal started on a full disk does not die: it holds no id reservation so refuses
    events (`not_durable`), removes every temporary, and recovers when space returns."""
    (run_paths.lib / "journal").mkdir(parents=True)
    (run_paths.lib / "journal" / "state.tmp").write_bytes(b"x" * 1000)  # a crashed start's
    monkeypatch.setattr(statefile.os, "fsync", _enospc)
    journal = Journal(run_paths, ring_size=100)
    assert journal.disk_error is not None and health
    assert not _post(journal, "a")
    assert journal.refused == {"not_durable": 1}
    assert not list(journal.dir.glob("*.tmp")) and not list(run_paths.lib.glob("*.tmp"))
    assert journal.recover(now=float("inf")) is False  # still full
    assert not list(journal.dir.glob("*.tmp"))
    monkeypatch.setattr(statefile.os, "fsync", REAL_FSYNC)
    assert journal.recover(now=float("inf"))
    assert _post(journal, "a") and journal.stats()["durable"] is True
    journal.close()


def test_id_reservation_failure_refuses_rather_than_reuse(run_paths: Paths, health: list[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """When the next id block cannot be reserved on disk, no id past the reservation is
    issued (a crash could issue it again): events are refused until the write succeeds."""
    journal = Journal(run_paths, ring_size=100)
    journal.ids.limit = journal.ids.next + 1  # the last id of the block
    assert _post(journal, "a", 1)
    monkeypatch.setattr(journal_mod, "write_atomic", lambda path, data: OSError(errno.EROFS, "Read-only file system"))
    last = journal.ids.last
    assert not _post(journal, "b", 2)
    assert journal.ids.last == last and journal.refused["not_durable"] == 1
    assert "EROFS" in (journal.disk_error or "")
    monkeypatch.undo()
    monkeypatch.setattr(readiness, "health", health.append)
    assert journal.recover(now=float("inf"))
    assert _post(journal, "b", 2)
    journal.close()


def test_bus_gaps_become_one_numbered_notice(run_paths: Paths) -> None:
    """Seq gaps seen on the bus are counted and told as a numbered notice in the ring, at most
    one per GAP_NOTICE_INTERVAL, so a resuming client gets it in order."""
    journal = Journal(run_paths, ring_size=100)
    assert _post(journal, "a", 1)
    journal.bus_gap("p", "NodeStatsUpdated", 8)
    journal.bus_gap("p", "NodeStatsUpdated", 2)
    journal.tell_gaps(now=100.0)
    journal.bus_gap("p", "NodeStatsUpdated", 5)
    journal.tell_gaps(now=100.5)  # too soon: kept for the next one
    assert [n["missed"] for n in _notices(journal)] == [10]
    journal.tell_gaps(now=101.5)
    assert [n["missed"] for n in _notices(journal)] == [10, 5]
    assert journal.stats()["bus_missed"] == 15 and journal.stats()["bus_gaps"] == 3
    reply = journal.since(1)
    assert isinstance(reply, tuple)
    ids = [r.id for r in unpack_records(reply[1])]
    assert ids == [2, 3]
    journal.close()
    assert Events  # the reply type the clients decode it into


def test_bus_event_cannot_forge_a_notice(run_paths: Paths) -> None:
    """A bus event that claims to be a journal notice (source=journal) is refused."""
    journal = Journal(run_paths, ring_size=100)
    labels = {"source": "journal"}
    topic = encode_topic("SubscriptionError", labels)
    data = json.dumps({"labels": labels, "error": "x", "cause": "durable"}).replace(" ", "").encode()
    assert not journal.accept("SubscriptionError", labels, topic, encode_meta("n1", "p", 1, AT), AT, data)
    assert journal.refused == {"labels": 1}
    journal.close()


def test_statefile_removes_tmp_reports_and_retries(tmp_path: Path, health: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """istat's and discover's helper: a failed write leaves no temporary, is reported, not
    raised, and a later retry writes the current content and reports healthy."""
    now = [0.0]
    content = [b"one"]
    sf = statefile.StateFile(tmp_path / "status.json", lambda: content[0], "istat/status.json", clock=lambda: now[0])
    monkeypatch.setattr(statefile.os, "fsync", _enospc)
    assert not sf.save()
    assert sf.dirty and "ENOSPC" in (sf.error or "")
    assert health == ["istat/status.json not durable: ENOSPC status.json.tmp: No space left on device"] or \
        health[0].startswith("istat/status.json not durable: ENOSPC")
    assert not list(tmp_path.iterdir())
    monkeypatch.setattr(statefile.os, "fsync", REAL_FSYNC)
    content[0] = b"two"
    sf.retry()  # before its delay: nothing
    assert sf.dirty
    now[0] = 100.0
    sf.retry()
    assert not sf.dirty and (tmp_path / "status.json").read_bytes() == b"two" and health[-1] == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_unwritable_directory(run_paths: Paths, health: list[str]) -> None:
    """A journal directory made read-only: the journal keeps serving and reports degraded."""
    journal = Journal(run_paths, ring_size=100)
    assert _post(journal, "a", 1)
    journal.dir.chmod(0o500)
    try:
        assert journal.recover() is True  # durable: nothing failed yet
        journal._compact_open()
        assert journal.disk_error is not None and "EACCES" in journal.disk_error
        assert journal.since(0) is not None
    finally:
        journal.dir.chmod(0o700)
    assert journal.recover(now=float("inf"))
    journal.close()


def test_istat_publishes_and_retries_when_its_disk_is_full(tmp_path: Path, health: list[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """istat on a full disk: a post is still published, the save is reported degraded, not
    raised, no temporary stays, and the retry writes the status once space returns."""
    from omd.subsystems.istat import Istat
    from tests.unit.test_istat import FakePub, post

    paths = Paths.resolve(tmp_path)
    pub = FakePub()
    istat = Istat(paths, "n1", pub)
    monkeypatch.setattr(statefile.os, "fsync", _enospc)
    istat.on_post(post("svc1", avail="up"))
    assert pub.events and pub.events[-1][0] == "InstanceStatusUpdated"
    saver = istat.savers["svc1"]
    assert saver.dirty and health[-1].startswith("istat/objects/svc1.json not durable: ENOSPC")
    assert not list((paths.lib / "istat").rglob("*.tmp"))
    monkeypatch.setattr(statefile.os, "fsync", REAL_FSYNC)
    saver._next_try = 0.0
    istat.retry_saves()
    assert not saver.dirty and health[-1] == ""
    assert Istat(paths, "n1", FakePub()).statuses["svc1"]["status"]["avail"] == "up"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_read_only_filesystem_degrades_then_recovers(run_paths: Paths, health: list[str]) -> None:
    """The journal's directory on a filesystem remounted read-only (EROFS, a real one): events
    are still served, the journal is degraded, and it recovers once the mount is writable."""
    import subprocess

    directory = run_paths.lib / "journal"
    directory.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], check=True)
    journal = None
    try:
        journal = Journal(run_paths, ring_size=100)
        assert _post(journal, "a", 1)
        journal._log.close()  # a file open for writing keeps the mount from going read-only
        journal._log = None
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        journal._compact_open()  # what the next compaction does
        assert "EROFS" in (journal.disk_error or ""), journal.disk_error
        assert _post(journal, "b", 2)  # within the reserved block: still numbered, served
        assert isinstance(journal.since(0), tuple) and not journal.recover(now=float("inf"))
        subprocess.run(["mount", "-o", "remount,rw", str(directory)], check=True)
        assert journal.recover(now=float("inf")) and health[-1] == ""
        rows = json.loads((directory / "state.json").read_text())
        assert len(rows) == 2 and not list(directory.glob("*.tmp"))
    finally:
        if journal is not None:
            subprocess.run(["mount", "-o", "remount,rw", str(directory)], check=False)
            journal.close()
        subprocess.run(["umount", "-l", str(directory)], check=False)
