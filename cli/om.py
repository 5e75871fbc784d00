"""`om`: commands for this node, through the daemon's unix socket.

    om node events | om daemon events     (aliases eve, even, event)
    om daemon run|start|stop|restart|status
    om cluster status [-o json]
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .events import FILTER_HELP, build_options, events_options, run_events

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class AliasGroup(click.Group):
    """A group whose `events` command also answers to eve, even and event."""

    ALIASES = {"eve": "events", "even": "events", "event": "events"}

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(name, name))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else name), cmd, rest


def _paths(root: str | None) -> Any:
    from omd.paths import Paths

    return Paths.resolve(root)


def _local_endpoint(root: str | None) -> Any:
    from .client import Endpoint

    paths = _paths(root)
    if not paths.api_socket.exists():
        raise click.ClickException(
            f"the daemon is not running on root {paths.root} (no {paths.api_socket}); start it with `om daemon start`")
    return Endpoint(unix_path=str(paths.api_socket))


def _nodename(root: str | None) -> str:
    from omd.config import load
    from omd.errors import OmdError

    try:
        return load(_paths(root)).nodename
    except OmdError as exc:
        raise click.ClickException(str(exc)) from None


root_option = click.option("--root", envvar="OMD_ROOT", metavar="DIR",
                           help="Root of the daemon's files (default: / as root, else ~/.local/state/omd). Also $OMD_ROOT.")


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="omd", prog_name="om")
def om() -> None:
    """Manage this node's omd daemon and watch its events."""


def _events_command(group: click.Group) -> None:
    @group.command("events", epilog=FILTER_HELP, context_settings=CONTEXT_SETTINGS)
    @root_option
    @events_options
    def events(root: str | None, **kw: Any) -> None:
        """Print the node event stream (filter, format, or wait on a condition)."""
        opts = build_options(**kw)
        run_events(opts, lambda: _local_endpoint(root), None if opts.input else _nodename(root))


@om.group(cls=AliasGroup, context_settings=CONTEXT_SETTINGS)
def node() -> None:
    """This node."""


@om.group(cls=AliasGroup, context_settings=CONTEXT_SETTINGS)
def daemon() -> None:
    """The omd daemon of this node."""


_events_command(node)
_events_command(daemon)


@daemon.command("run")
@root_option
def daemon_run(root: str | None) -> None:
    """Run the daemon in the foreground."""
    args = [sys.executable, "-m", "omd"] + (["--root", root] if root else []) + ["run"]
    os.execv(sys.executable, args)


@daemon.command("start")
@root_option
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the daemon to be up.")
def daemon_start(root: str | None, timeout: float) -> None:
    """Start the daemon in the background (through systemd when it manages omd.service)."""
    from .daemon import start

    start(_paths(root), timeout)


@daemon.command("stop")
@root_option
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the daemon to exit.")
def daemon_stop(root: str | None, timeout: float) -> None:
    """Stop the daemon."""
    from .daemon import stop

    stop(_paths(root), timeout)


@daemon.command("restart")
@root_option
@click.option("--timeout", default=60.0, show_default=True)
def daemon_restart(root: str | None, timeout: float) -> None:
    """Stop then start the daemon."""
    from .daemon import start, stop

    stop(_paths(root), timeout)
    start(_paths(root), timeout)


@daemon.command("status")
@root_option
def daemon_status(root: str | None) -> None:
    """Is the daemon running, and the state of each subsystem (exit 3 when not running)."""
    args = [sys.executable, "-m", "omd"] + (["--root", root] if root else []) + ["status"]
    os.execv(sys.executable, args)


@om.group(context_settings=CONTEXT_SETTINGS)
def cluster() -> None:
    """The cluster as this node sees it."""


@cluster.command("status")
@root_option
@click.option("-o", "--output", type=click.Choice(["auto", "json", "human"]), default="auto", show_default=True)
def cluster_status(root: str | None, output: str) -> None:
    """Print the cluster dataset: nodes, instances and objects."""
    from .client import ClientError
    from .daemon import print_cluster

    try:
        data = _local_endpoint(root).request("GET", "/api/cluster/status")
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    print_cluster(data, output)


def main() -> None:
    """Console-script entry point."""
    try:
        om(prog_name="om")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
