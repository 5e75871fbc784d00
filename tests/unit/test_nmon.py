"""Node stats from /proc and the score formula (omd.subsystems.nmon)."""

from __future__ import annotations

from omd.subsystems import nmon

MEMINFO = """MemTotal:        8000000 kB
MemFree:          1000000 kB
MemAvailable:     2000000 kB
SwapTotal:        1000000 kB
SwapFree:          750000 kB
"""


def test_read_stats_from_proc_files(tmp_path):
    """load_15m, memory and swap percents and MB totals come from loadavg and meminfo."""
    (tmp_path / "loadavg").write_text("0.50 0.75 1.00 1/100 1234\n")
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "stat").write_text("cpu 1 2 3\nbtime 1700000000\n")
    stats = nmon.read_stats(tmp_path, ncpu=4)
    assert stats.load_15m == 1.0
    assert (stats.mem_avail, stats.mem_total) == (25, 7812)
    assert (stats.swap_avail, stats.swap_total) == (75, 976)
    assert stats.score == nmon.score(1.0, 4, 25, 75) == 55
    assert nmon.booted_at(tmp_path) == "2023-11-14T22:13:20.000000000Z"


def test_score_bounds():
    """The score is 100 on an idle node and 0 on a saturated one, never outside 0..100."""
    assert nmon.score(0.0, 2, 100, 100) == 100
    assert nmon.score(50.0, 2, 0, 0) == 0
    assert 0 <= nmon.score(1.0, 1, 50, 100) <= 100


def test_no_swap_counts_as_available(tmp_path):
    """A node without swap reports swap_avail 100 and swap_total 0."""
    (tmp_path / "loadavg").write_text("0 0 0 1/1 1\n")
    (tmp_path / "meminfo").write_text("MemTotal: 1024 kB\nMemAvailable: 512 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n")
    stats = nmon.read_stats(tmp_path, ncpu=1)
    assert (stats.swap_avail, stats.swap_total, stats.mem_avail, stats.mem_total) == (100, 0, 50, 1)
