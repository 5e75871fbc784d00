"""Scheduler helpers: failure texts and schedule arithmetic (omd.subsystems.scheduler)."""

from __future__ import annotations

from omd.subsystems.scheduler import _advance, failure_text, stderr_tail


def test_failure_text_says_exit_code_signal_or_timeout():
    """ExecFailed.error names the exit code, the signal or the timeout, then the stderr tail."""
    assert failure_text(3, "boom") == "exit code 3: boom"
    assert failure_text(1, "") == "exit code 1"
    assert failure_text(-9, "") == "killed by signal SIGKILL"
    assert failure_text(-9, "x", timeout=1.5) == "timeout after 1.5s (killed): x"


def test_stderr_tail_is_bounded():
    """Only the last lines of stderr, at most 1000 characters, are kept."""
    data = b"".join(b"line %d\n" % i for i in range(100))
    tail = stderr_tail(data)
    assert tail.splitlines() == [f"line {i}" for i in range(90, 100)]
    assert len(stderr_tail(b"x" * 5000)) == 1000


def test_missed_runs_do_not_burst():
    """A schedule that fell behind resumes one interval from now, not with catch-up runs."""
    assert _advance(10.0, 5.0, 11.0) == 15.0
    assert _advance(10.0, 5.0, 100.0) == 105.0
