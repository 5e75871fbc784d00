"""The scheduler subsystem: runs the jobs of `[scheduler] jobs` as subprocesses, on schedule.

Each job runs its `command` (an argv list, no shell) every `interval` seconds, the first
time one interval after the scheduler starts. At most `max_running` runs go at once; a job
never overlaps itself (a run due while the previous one is still going is skipped, and
logged); a run over its `timeout` is killed (its whole process group).

A run does not outlive the scheduler: it is its own process group, killed when the scheduler
stops or when the run's first process exits (what it left running in its group goes with
it), and the kernel kills its first process if the scheduler dies (PR_SET_PDEATHSIG). What
that cannot reach (the run's own children) is found through the run records,
`var/lib/omd/scheduler/runs.json` (process group and start time of each run): a restarted
scheduler kills what is left of a recorded run before it starts anything, and publishes its
ExecFailed (`interrupted: the scheduler died during the run`), so a job never overlaps
itself across a scheduler crash.

Each run publishes, with labels node and origin=scheduler, as upstream's scheduler:

- Exec {command, node, origin, title=<job name>, session_id, exec_id} when it starts;
- ExecSuccess {..., duration} when it exits 0, ExecFailed {..., duration, error} otherwise,
  `duration` in nanoseconds, `error` saying the exit code or signal (or the timeout, or why it
  could not start) followed by the tail of its standard error.

DaemonSchedulerUpdated {node, scheduler {id, state, configured_at, created_at, updated_at,
count (jobs configured), max_running}} (Lh) is published when the scheduler's state changes:
`running` at start, `stopped` when it stops. The supervisor does not publish this kind
(it is not in omd.daemon.registry.STATE_KINDS): its process states lack count and max_running.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any

import structlog

from omd.config import Config, SchedulerJob
from omd.daemon.runtime import Runtime, Subsystem
from omd.model.events import DaemonSchedulerUpdated, Exec, ExecFailed, ExecSuccess
from omd.paths import Paths
from omd.model.wire import rfc3339_ns
from omd.statefile import write_atomic

log = structlog.get_logger()

STDERR_TAIL_LINES = 10
STDERR_TAIL_CHARS = 1000


@dataclass
class Run:
    """One run of a job in progress."""

    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]
    started_ns: int
    deadline: float  # monotonic; 0: no timeout
    exec_event: Exec
    timed_out: bool = False


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_the_scheduler() -> None:  # preexec_fn: runs in the job's process before exec
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _stat(pid: int) -> tuple[int, int] | None:
    """(process group, start time in clock ticks since boot) of `pid`, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[2]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _start_time(pid: int) -> int | None:
    found = _stat(pid)
    return found[1] if found else None


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found and found[0] == pgid:
                members.append(int(entry))
    return members


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """The run's first process has exited, not yet reaped (its pid, and so its group id,
    still cannot be reused)."""
    if proc.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def stderr_tail(data: bytes) -> str:
    """The last lines of a run's standard error, bounded, for ExecFailed.error."""
    lines = data.decode("utf-8", errors="replace").strip().splitlines()[-STDERR_TAIL_LINES:]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def failure_text(returncode: int, tail: str, timeout: float = 0.0) -> str:
    """ExecFailed.error of a run that ended with `returncode`."""
    if timeout:
        text = f"timeout after {timeout:g}s (killed)"
    elif returncode < 0:
        try:
            text = f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            text = f"killed by signal {-returncode}"
    else:
        text = f"exit code {returncode}"
    return f"{text}: {tail}" if tail else text


class Scheduler:
    """Job timing and runs; `tick()` starts what is due and reaps what ended."""

    def __init__(self, config: Config, paths: Paths, pub: Any) -> None:
        self.node = config.nodename
        self.paths = paths
        self.pub = pub
        self.jobs: list[SchedulerJob] = list(config.scheduler.jobs)
        self.max_running = config.scheduler.max_running
        now = time.monotonic()
        self.next_run: dict[str, float] = {job.name: now + job.interval for job in self.jobs}
        self.runs: dict[str, Run] = {}
        self.created_at = rfc3339_ns()
        self.labels = {"node": self.node, "origin": "scheduler"}
        self.records_file = paths.lib / "scheduler" / "runs.json"

    # ---------------------------------------------------------------- run records

    def _write_records(self) -> None:
        records = {name: {"pgid": run.proc.pid, "start": _start_time(run.proc.pid),
                          **{f: getattr(run.exec_event, f) for f in ("command", "title", "session_id", "exec_id")}}
                   for name, run in self.runs.items()}
        error = write_atomic(self.records_file, json.dumps(records).encode())
        if error is not None:
            log.warning("scheduler_records_not_written", error=str(error))

    def reap_leftovers(self) -> None:
        """Kill what is left of the runs a dead scheduler recorded, and report them failed."""
        try:
            records = json.loads(self.records_file.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("scheduler_records_unreadable", file=str(self.records_file), error=str(exc))
            records = {}
        for name, rec in (records.items() if isinstance(records, dict) else ()):
            if not isinstance(rec, dict) or not isinstance(rec.get("pgid"), int):
                continue
            pgid = rec["pgid"]
            leader = _start_time(pgid)
            members = _group_members(pgid)
            if leader is not None and leader != rec.get("start"):
                # the id is another process's now (the run's group had emptied): not ours
                killed: list[int] = []
            else:
                killed = members
                for pid in members:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            log.warning("job_interrupted", job=name, pgid=pgid, killed=killed)
            fields = {"command": str(rec.get("command", "")), "node": self.node, "origin": "scheduler",
                      "title": str(rec.get("title", name)), "session_id": str(rec.get("session_id", "")),
                      "exec_id": str(rec.get("exec_id", ""))}
            self.pub.publish(ExecFailed(duration=0, error="interrupted: the scheduler died during the run",
                                        **fields), self.labels)
        self._write_records()

    def publish_state(self, state: str) -> None:
        """DaemonSchedulerUpdated with `state`."""
        value = {"id": "scheduler", "state": state, "configured_at": self.created_at,
                 "created_at": self.created_at, "updated_at": rfc3339_ns(), "count": len(self.jobs),
                 "max_running": self.max_running}
        self.pub.publish(DaemonSchedulerUpdated(node=self.node, scheduler=value), {"node": self.node},
                         ready_timeout=2)

    def next_timeout(self) -> float:
        """Seconds until something may need doing."""
        now = time.monotonic()
        due = min((t - now for name, t in self.next_run.items() if name not in self.runs), default=1.0)
        return max(0.0, min(0.02 if self.runs else 0.1, due))

    def tick(self) -> None:
        """Reap ended runs, kill overdue ones, start due jobs while slots are free."""
        now = time.monotonic()
        for name, run in list(self.runs.items()):
            if not _exited(run.proc) and run.deadline and now >= run.deadline:
                run.timed_out = True
                _kill_group(run.proc)
            if _exited(run.proc):
                if run.proc.returncode is None:
                    _kill_group(run.proc)  # what the run left in its group, before the id is freed
                run.proc.wait()
                del self.runs[name]
                self._write_records()
                self._finish(name, run)
        for job in self.jobs:
            due = self.next_run[job.name]
            if now < due:
                continue
            if job.name in self.runs:
                log.warning("job_skipped", job=job.name, reason="previous run still running")
                self.next_run[job.name] = _advance(due, job.interval, now)
                continue
            if len(self.runs) >= self.max_running:
                continue  # starts when a slot frees
            self.next_run[job.name] = _advance(due, job.interval, now)
            self._start(job)

    def _start(self, job: SchedulerJob) -> None:
        event = Exec(command=shlex.join(job.command), node=self.node, origin="scheduler", title=job.name,
                     session_id=str(uuid.uuid4()), exec_id=str(uuid.uuid4()))
        self.pub.publish(event, self.labels)
        started = time.monotonic_ns()
        stderr = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(job.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=stderr, cwd=str(self.paths.root), start_new_session=True,
                                    preexec_fn=_die_with_the_scheduler)
        except OSError as exc:
            stderr.close()
            self._publish_end(event, time.monotonic_ns() - started, f"cannot run: {exc}")
            return
        deadline = time.monotonic() + job.timeout if job.timeout else 0.0
        self.runs[job.name] = Run(proc, stderr, started, deadline, event)
        self._write_records()

    def _finish(self, name: str, run: Run) -> None:
        duration = time.monotonic_ns() - run.started_ns
        run.stderr.seek(0)
        tail = stderr_tail(run.stderr.read())
        run.stderr.close()
        rc = run.proc.returncode
        if rc == 0 and not run.timed_out:
            self._publish_end(run.exec_event, duration, None)
            return
        timeout = next(j.timeout for j in self.jobs if j.name == name) if run.timed_out else 0.0
        error = failure_text(rc, tail, timeout)
        log.warning("job_failed", job=name, error=error.splitlines()[0])
        self._publish_end(run.exec_event, duration, error)

    def _publish_end(self, event: Exec, duration: int, error: str | None) -> None:
        fields = {f: getattr(event, f) for f in ("command", "node", "origin", "title", "session_id", "exec_id")}
        if error is None:
            self.pub.publish(ExecSuccess(duration=duration, **fields), self.labels)
        else:
            self.pub.publish(ExecFailed(duration=duration, error=error, **fields), self.labels)

    def stop(self) -> None:
        """Kill the runs in progress (reported failed) and publish the stopped state."""
        for name, run in list(self.runs.items()):
            _kill_group(run.proc)
            run.proc.wait()
            del self.runs[name]
            duration = time.monotonic_ns() - run.started_ns
            run.stderr.close()
            self._publish_end(run.exec_event, duration, "interrupted: the scheduler stopped")
        self._write_records()
        self.publish_state("stopped")


def _advance(due: float, interval: float, now: float) -> float:
    """The next due time after `due`, never in the past (missed runs are not run in a burst)."""
    nxt = due + interval
    return nxt if nxt > now else now + interval


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class SchedulerSubsystem(Subsystem):
    """The scheduler on the runtime: `tick()` on every turn, as often as the runs need."""

    state_kinds = ("DaemonSchedulerUpdated",)
    start_publishes_state = True

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self.sched = Scheduler(rt.config, rt.paths, rt.pub)

    def start(self) -> None:
        self.sched.reap_leftovers()
        log.info("scheduler_started", jobs=[job.name for job in self.sched.jobs],
                 max_running=self.sched.max_running)
        self.sched.publish_state("running")

    def republish(self) -> None:
        self.sched.publish_state("running")

    def poll(self) -> float:
        self.sched.tick()
        return self.sched.next_timeout()

    def stop(self) -> None:
        self.sched.stop()


def run(rt: Runtime) -> int:
    """Run the jobs until SIGTERM/SIGINT."""
    return rt.run(SchedulerSubsystem)
