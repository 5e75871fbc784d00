"""The `omd` command: run, stop and inspect the daemon of one root.

    omd [--root DIR] [run]        run the daemon in the foreground (systemd runs this)
    omd [--root DIR] stop         stop the running daemon
    omd [--root DIR] status       is it running, and the state of each subsystem
    omd [--root DIR] --check-config

Exit codes: 0 ok; 1 failure; 2 usage or configuration error, or a daemon already running;
3 (`status`) not running.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Callable

import click

from . import __version__
from .config import load
from .errors import OmdError
from .paths import Paths

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
        try:
            config = load(ctx.obj)
        except OmdError as exc:
            raise DaemonCommandError(exc) from None
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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Say whether the daemon runs, and the state of each subsystem (exit 3 when not running)."""
    from omd.daemon.supervisor import running_pid

    paths = _paths(ctx)
    pid = running_pid(paths)
    if pid is None:
        if as_json:
            click.echo(json.dumps({"running": False, "root": str(paths.root)}))
        else:
            click.echo(f"omd is not running on root {paths.root}")
        ctx.exit(EXIT_NOT_RUNNING)
    try:
        doc = json.loads(paths.status_file.read_text())
    except (OSError, ValueError):
        doc = {"pid": pid, "status": "starting", "subsystems": {}}
    doc["running"] = True
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"omd {doc.get('status', '?')} (pid {pid}, node {doc.get('node', '?')}, root {paths.root})")
    for name, sub in doc.get("subsystems", {}).items():
        line = f"  {name:<12} {sub['state']:<11} pid {sub['pid'] or '-':<8} restarts {sub['restarts']}"
        if sub.get("last_exit") is not None:
            line += f"  last exit {sub['last_exit']}"
        click.echo(line)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="omd")


if __name__ == "__main__":
    sys.exit(main())
