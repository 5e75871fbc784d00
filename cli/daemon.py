"""`om daemon start|stop` and `om cluster status` rendering.

`start` goes through systemd when it manages `omd.service` for the default root (running as
root with the unit loaded); otherwise it spawns `omd run` in its own session with output to
`var/log/omd/omd.log`. Either way it waits until the daemon is ready, as `omd status` judges it
(`started`, every subsystem `running`), and fails naming the subsystems that are not when the
timeout passes first; the daemon is left running then, its supervisor still restarting them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

import click

ZERO_TIME = "0001-01-01T00:00:00Z"


def _systemd_manages(paths: Any) -> bool:
    if os.geteuid() != 0 or str(paths.root) != "/" or not shutil.which("systemctl"):
        return False
    result = subprocess.run(["systemctl", "show", "-p", "LoadState", "--value", "omd.service"],
                            capture_output=True, text=True)
    return result.stdout.strip() == "loaded"


def _ready(paths: Any, pid: int) -> list[str]:
    """Why the daemon `pid` is not ready yet ([] once it is)."""
    from omd.main import problems, read_status

    doc = read_status(paths, pid)
    if doc.get("pid") != pid:  # a status file left by an earlier daemon that was killed
        return ["daemon starting"]
    found = problems(doc)
    if not found and "gateway" in doc.get("subsystems", {}) and not paths.api_socket.exists():
        found.append(f"gateway running but {paths.api_socket} is missing")
    return found


def _wait_ready(paths: Any, pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> None:
    """Return once daemon `pid` is ready; fail when it exits or the timeout passes first."""
    log = paths.log / "omd.log"
    deadline = time.monotonic() + timeout
    while found := _ready(paths, pid):
        if proc is not None and proc.poll() is not None:
            raise click.ClickException(f"omd exited with code {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            where = "see journalctl -u omd.service" if proc is None else f"see {log}"
            raise click.ClickException(f"omd (pid {pid}) is running but not ready after {timeout:g}s: "
                                       f"{'; '.join(found)}; {where}")
        time.sleep(0.05)


def start(paths: Any, timeout: float) -> None:
    """Start the daemon of `paths` and wait until it is ready (exit 1 naming what is not)."""
    from omd.daemon.supervisor import running_pid

    if running_pid(paths) is not None:
        click.echo(f"omd is already running on root {paths.root}")
        return
    if _systemd_manages(paths):
        subprocess.run(["systemctl", "start", "omd.service"], check=True)
        # Type=notify returns at READY=1, which the supervisor also sends at its start
        # deadline with subsystems still not ready: check them like for a spawned daemon.
        pid = running_pid(paths)
        if pid is None:
            raise click.ClickException("omd.service started but no daemon runs; see journalctl -u omd.service")
        _wait_ready(paths, pid, timeout, None)
        click.echo("omd started by systemd (omd.service)")
        return
    paths.log.mkdir(parents=True, exist_ok=True)
    with open(paths.log / "omd.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "omd", "--root", str(paths.root), "run"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    _wait_ready(paths, proc.pid, timeout, proc)
    click.echo(f"omd started (pid {proc.pid}, root {paths.root}, log {paths.log / 'omd.log'})")


def stop(paths: Any, timeout: float) -> None:
    """Stop the daemon of `paths` (through systemd when it manages it) and wait until it has exited."""
    from omd.main import stop_daemon

    def systemctl_stop(pid: int) -> None:
        subprocess.run(["systemctl", "stop", "omd.service"], check=True)

    stop_daemon(paths, timeout, systemctl_stop if _systemd_manages(paths) else None)


def print_cluster(data: dict[str, Any], output: str) -> None:
    """Print the cluster dataset as JSON or as a readable summary."""
    if output == "json" or (output == "auto" and not sys.stdout.isatty()):
        click.echo(json.dumps(data, indent=2))
        return
    cluster = data.get("cluster", {})
    status = cluster.get("status") or {}
    click.echo(f"cluster  frozen={status.get('is_frozen', '?')}  compat={status.get('is_compat', '?')}")
    click.echo("nodes")
    for name, node in sorted(cluster.get("node", {}).items()):
        ns = node.get("status") or {}
        st = node.get("stats") or {}
        frozen = "frozen" if ns.get("frozen_at", ZERO_TIME) != ZERO_TIME else ""
        click.echo(f"  {name:<20} load15m={st.get('load_15m', '-')} mem_avail={st.get('mem_avail', '-')}% "
                   f"agent={ns.get('agent', '-')} {frozen}".rstrip())
    click.echo("objects")
    for path, obj in sorted(cluster.get("object", {}).items()):
        obj = obj or {}
        click.echo(f"  {path:<30} avail={obj.get('avail', '-'):<6} overall={obj.get('overall', '-'):<6} "
                   f"provisioned={obj.get('provisioned', '-'):<6} frozen={obj.get('frozen', '-')}")
        for name, node in sorted(cluster.get("node", {}).items()):
            inst = (node.get("instance") or {}).get(path)
            if inst and inst.get("status"):
                s = inst["status"]
                click.echo(f"    @{name:<27} avail={s.get('avail', '-'):<6} overall={s.get('overall', '-')}")
