"""The `omd` command: run, stop and inspect the daemon of one root.

    omd [--root DIR] [run]        run the daemon in the foreground (systemd runs this)
    omd [--root DIR] stop         stop the running daemon
    omd [--root DIR] status       is it running, and the state of each subsystem [--json]
    omd [--root DIR] --check-config
    omd [--root DIR] journal repair-idbase [--next N]   set the event id counter after damage

Exit codes: 0 ok; 1 failure, or (`status`) running but not healthy: the daemon is not
`started` or a subsystem is not `running`; 2 usage or configuration error, or a daemon
already running; 3 (`status`) not running.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any, Callable

import click

from . import __version__
from .config import load
from .errors import OmdError
from .paths import Paths

EXIT_UNHEALTHY = 1
EXIT_NOT_RUNNING = 3


class DaemonCommandError(click.ClickException):
    """An `OmdError` on its way to the terminal, with its exit code."""

    def __init__(self, error: OmdError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


def _paths(ctx: click.Context) -> Paths:
    return ctx.obj


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="OMD_ROOT", type=click.Path(file_okay=False),
              help="Root directory of the daemon's files (default: / as root, else "
                   "~/.local/state/omd). Also $OMD_ROOT.")
@click.option("--check-config", is_flag=True,
              help="Validate etc/omd/omd.toml under the root and exit (2 when invalid).")
@click.version_option(__version__, prog_name="omd")
@click.pass_context
def cli(ctx: click.Context, root: str | None, check_config: bool) -> None:
    """omd: the OpenSVC-style node daemon event system.

    Without a command, runs the daemon in the foreground (same as `omd run`).
    """
    ctx.obj = Paths.resolve(root)
    if check_config:
        warnings: list[str] = []
        try:
            config = load(ctx.obj, warnings)
        except OmdError as exc:
            raise DaemonCommandError(exc) from None
        for text in warnings:
            click.echo(f"warning: {text}", err=True)
        click.echo(f"{ctx.obj.config_file}: ok (node {config.nodename})")
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT."""
    from omd.daemon.supervisor import serve

    try:
        code = serve(_paths(ctx))
    except OmdError as exc:
        raise DaemonCommandError(exc) from None
    ctx.exit(code)


def stop_daemon(paths: Paths, timeout: float, send: Callable[[int], None] | None = None) -> None:
    """Stop the daemon of `paths` and wait until it has exited, saying so.

    `send(pid)` asks it to stop (default: SIGTERM); `om daemon stop` passes systemctl.
    """
    from omd.daemon.supervisor import running_pid

    pid = running_pid(paths)
    if pid is None:
        click.echo(f"omd is not running on root {paths.root}")
        return
    if send is not None:
        send(pid)
    elif pid > 0:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(paths) is not None:
        if time.monotonic() > deadline:
            raise click.ClickException(f"omd (pid {pid}) did not stop within {timeout:g}s")
        time.sleep(0.05)
    click.echo(f"omd stopped (pid {pid})")


@cli.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the daemon to exit.")
@click.pass_context
def stop(ctx: click.Context, timeout: float) -> None:
    """Stop the running daemon (SIGTERM, then wait for it to exit)."""
    stop_daemon(_paths(ctx), timeout)


def _exit_text(code: int) -> str:
    """An exit status as the supervisor records it: negative is the signal that killed it."""
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            return str(code)
    return str(code)


def problems(doc: dict[str, Any]) -> list[str]:
    """Why a status.json document is not healthy, one phrase each; [] when it is.

    Healthy is the daemon `started` with every subsystem `running`. The per-subsystem states
    are checked, not only the daemon's status, because a subsystem that crash-loops after the
    start does not change a `started` daemon status in every supervisor version.
    """
    found = []
    status = doc.get("status", "?")
    if status != "started":
        found.append(f"daemon {status}")
    subsystems = doc.get("subsystems")
    if not isinstance(subsystems, dict):
        return found + ["no subsystem states in the status file"]
    for name, sub in subsystems.items():
        sub = sub if isinstance(sub, dict) else {}
        state = sub.get("state", "?")
        if state == "running":
            if sub.get("degraded"):
                found.append(f"{name} degraded: {sub['degraded']}")
            continue
        why = f"{name} {state} (restarts {sub.get('restarts', '?')}"
        if sub.get("last_exit") is not None:
            why += f", last exit {_exit_text(sub['last_exit'])}"
        found.append(why + ")")
    return found


def read_status(paths: Paths, pid: int) -> dict[str, Any]:
    """The daemon's status.json; a daemon that has not written it yet is `starting`."""
    try:
        doc = json.loads(paths.status_file.read_text())
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        doc = {"pid": pid, "status": "starting", "subsystems": {}}
    return doc


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print the status document as JSON, with `healthy` and `problems`.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Say whether the daemon runs, and the state of each subsystem.

    Exit 0 when the daemon is started with every subsystem running; 1 when it runs but is not
    (still starting, degraded, or a subsystem restarting: each is named, with its restarts and
    last exit); 3 when it does not run.
    """
    from omd.daemon.supervisor import running_pid

    paths = _paths(ctx)
    pid = running_pid(paths)
    if pid is None:
        if as_json:
            click.echo(json.dumps({"running": False, "root": str(paths.root)}))
        else:
            click.echo(f"omd is not running on root {paths.root}")
        ctx.exit(EXIT_NOT_RUNNING)
    doc = read_status(paths, pid)
    found = problems(doc)
    doc["running"] = True
    doc["healthy"] = not found
    doc["problems"] = found
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        ctx.exit(EXIT_UNHEALTHY if found else 0)
    click.echo(f"omd {doc.get('status', '?')} (pid {pid}, node {doc.get('node', '?')}, root {paths.root})")
    for name, sub in doc.get("subsystems", {}).items():
        if not isinstance(sub, dict):
            continue
        line = (f"  {name:<12} {sub.get('state', '?'):<11} pid {sub.get('pid') or '-':<8} "
                f"restarts {sub.get('restarts', '?')}")
        if sub.get("last_exit") is not None:
            line += f"  last exit {_exit_text(sub['last_exit'])}"
        if sub.get("degraded"):
            line += f"  degraded: {sub['degraded']}"
        click.echo(line)
    if found:
        click.echo(f"omd is not healthy: {'; '.join(found)}", err=True)
        ctx.exit(EXIT_UNHEALTHY)


@cli.group()
def journal() -> None:
    """Maintenance of the journal's files (var/lib/omd/journal)."""


@journal.command("repair-idbase")
@click.option("--next", "next_id", type=click.IntRange(1, 2**64), default=None,
              help="The next event id, at least (default: one block of 1000000 past the highest "
                   "id of the state files and of any readable id file).")
@click.pass_context
def repair_idbase_cmd(ctx: click.Context, next_id: int | None) -> None:
    """Set the event id counter when the journal refuses to start on it.

    The journal keeps its next id in var/lib/omd/journal/idbase and a copy in
    var/lib/omd/journal.idbase. When neither is readable it cannot know which ids it issued
    and refuses to start (reported `failed` by `omd status`), since issuing an id twice would
    resume clients into other events without a gap. This writes both files; ids between the
    highest known one and the default may have been issued by events that were never
    state, so give --next above any id a client may hold. Then restart the daemon.
    """
    from omd.subsystems.journal import repair_idbase

    try:
        value = repair_idbase(_paths(ctx), next_id)
    except OmdError as exc:
        raise DaemonCommandError(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the id files: {exc}") from None
    click.echo(f"next event id: {value}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="omd")


if __name__ == "__main__":
    sys.exit(main())
