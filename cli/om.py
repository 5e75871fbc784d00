"""`om`: commands for this node, through the daemon's unix socket.

    om node events | om daemon events     (aliases eve, even, event)
    om node freeze|unfreeze, om <path> freeze|unfreeze
    om daemon run|start|stop|restart|status
    om cluster status [-o json]
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .events import FILTER_HELP, EventsCommand, build_options, events_options, run_events

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _did_you_mean(name: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class SuggestingGroup(click.Group):
    """A group whose unknown-command error names the commands it has and the closest ones."""

    def unknown_command(self, ctx: click.Context, name: str) -> str:
        known = self.list_commands(ctx)
        return f"No such command {name!r}.{_did_you_mean(name, known)} Commands: {', '.join(known)}."

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            ctx.fail(self.unknown_command(ctx, name))
        return super().resolve_command(ctx, args)


class AliasGroup(SuggestingGroup):
    """A group whose `events` command also answers to eve, even and event."""

    ALIASES = {"eve": "events", "even": "events", "event": "events"}

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(name, name))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else name), cmd, rest


class ObjectGroup(SuggestingGroup):
    """`om <path> ...`: when the subcommand is unknown and the path looks like a mistyped
    command (`om nod events`), say so."""

    def unknown_command(self, ctx: click.Context, name: str) -> str:
        import difflib

        known = self.list_commands(ctx)
        text = f"The object {self.name!r} has no command {name!r} (it has {', '.join(known)}).{_did_you_mean(name, known)}"
        parent = ctx.parent.command if ctx.parent is not None else None
        if isinstance(parent, click.Group):
            roots = parent.list_commands(ctx)
            close = difflib.get_close_matches(self.name or "", roots, n=1, cutoff=0.6)
            if close:
                text += f" Did you mean 'om {close[0]} {name}'?"
        return text


def _paths(root: str | None) -> Any:
    from omd.paths import Paths

    return Paths.resolve(root)


def _local_endpoint(root: str | None) -> Any:
    from .client import Endpoint

    paths = _paths(root)
    if not paths.api_socket.exists():
        raise click.ClickException(
            f"the daemon is not running on root {paths.root} (no {paths.api_socket}); start it with `om daemon start`")
    return Endpoint(unix_path=str(paths.api_socket), pid_file=str(paths.pid_file))


def _nodename(root: str | None) -> str:
    from omd.config import load
    from omd.errors import OmdError

    try:
        return load(_paths(root)).nodename
    except OmdError as exc:
        raise click.ClickException(str(exc)) from None


root_option = click.option("--root", envvar="OMD_ROOT", metavar="DIR",
                           help="Root of the daemon's files (default: / as root, else ~/.local/state/omd). Also $OMD_ROOT.")


class RootGroup(SuggestingGroup):
    """`om`: besides its commands, `om <object path> freeze|unfreeze`."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None or name.startswith("-"):
            return cmd
        return _object_group(name)

    def unknown_command(self, ctx: click.Context, name: str) -> str:
        from omd.objects import ObjectPath, ObjectPathError

        known = [c for c in self.list_commands(ctx)]
        try:
            ObjectPath.parse(name)
            why = ""
        except ObjectPathError as exc:
            why = f" It is not an object path either: {exc}."
        return f"No such command {name!r}.{_did_you_mean(name, known)}{why} Commands: {', '.join(known)}, or <path>."

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        with formatter.section("Objects"):
            formatter.write_dl([("<path> freeze|unfreeze",
                                 "Freeze or unfreeze this node's instance of an object (svc1, ns1/svc/foo)"),
                                ("<path> post-status", "Post this node's instance status of an object")])


@click.group(cls=RootGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="omd", prog_name="om")
def om() -> None:
    """Manage this node's omd daemon and watch its events."""


def _post_action(root: str | None, url: str) -> Any:
    from .client import ClientError

    try:
        return _local_endpoint(root).request("POST", url)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None


def _object_group(text: str) -> click.Group | None:
    from omd.objects import ObjectPath, ObjectPathError

    try:
        path = ObjectPath.parse(text)
    except ObjectPathError:
        return None
    group = ObjectGroup(text, help=f"The object {path} on this node.", context_settings=CONTEXT_SETTINGS)
    base = f"/api/object/path/{path.namespace}/{path.kind}/{path.name}/action"

    @group.command("freeze")
    @root_option
    def freeze(root: str | None) -> None:
        """Freeze this node's instance (the orchestrator leaves it alone)."""
        doc = _post_action(root, f"{base}/freeze")
        click.echo(f"{path}@{doc['node']} frozen at {doc['frozen_at']}")

    @group.command("unfreeze")
    @root_option
    def unfreeze(root: str | None) -> None:
        """Unfreeze this node's instance."""
        doc = _post_action(root, f"{base}/unfreeze")
        click.echo(f"{path}@{doc['node']} {'unfrozen' if doc['unfrozen'] else 'was not frozen'}")

    @group.command("post-status")
    @root_option
    @click.option("--file", "file_", metavar="FILE", help="Instance status JSON document (- for stdin).")
    @click.option("--avail", help="Shortcut: avail (up, down, warn, n/a, ...).")
    @click.option("--overall", help="Shortcut: overall status.")
    @click.option("--provisioned", help="Shortcut: provisioned (true, false, mixed, n/a).")
    def post_status(root: str | None, file_: str | None, avail: str | None, overall: str | None,
                    provisioned: str | None) -> None:
        """Post this node's instance status (InstanceStatusPost, then InstanceStatusUpdated)."""
        import json

        from .client import ClientError

        status: dict[str, Any] = {}
        if file_:
            try:
                text = sys.stdin.read() if file_ == "-" else open(file_).read()
                status = json.loads(text)
            except (OSError, ValueError) as exc:
                raise click.BadParameter(str(exc), param_hint="--file") from None
            if not isinstance(status, dict):
                raise click.BadParameter("the document must be a JSON object", param_hint="--file")
        for key, value in (("avail", avail), ("overall", overall), ("provisioned", provisioned)):
            if value is not None:
                status[key] = value
        if not status:
            raise click.UsageError("give --file or at least one of --avail, --overall, --provisioned")
        try:
            doc = _local_endpoint(root).request("POST", "/api/instance/status",
                                                {"path": str(path), "instance_status": status})
        except ClientError as exc:
            if exc.status == 400:  # a bad value given on the command line: a usage error (exit 2)
                raise click.UsageError(str(exc)) from None
            raise click.ClickException(str(exc)) from None
        click.echo(f"{doc['path']}@{doc['node']} status posted")

    return group


def _events_command(group: click.Group) -> None:
    @group.command("events", cls=EventsCommand, epilog=FILTER_HELP, context_settings=CONTEXT_SETTINGS)
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


@node.command("freeze")
@root_option
def node_freeze(root: str | None) -> None:
    """Freeze this node: its frozen flag is set (NodeFrozen, NodeStatusUpdated frozen_at)."""
    doc = _post_action(root, "/api/node/name/localhost/action/freeze")
    click.echo(f"node {doc['node']} frozen at {doc['frozen_at']}")


@node.command("unfreeze")
@root_option
def node_unfreeze(root: str | None) -> None:
    """Unfreeze this node."""
    doc = _post_action(root, "/api/node/name/localhost/action/unfreeze")
    click.echo(f"node {doc['node']} {'unfrozen' if doc['unfrozen'] else 'was not frozen'}")


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
@click.option("--json", "as_json", is_flag=True, help="Print status.json (as `omd status --json`).")
def daemon_status(root: str | None, as_json: bool) -> None:
    """Is the daemon running, and the state of each subsystem: exit 0 when started with
    every subsystem running, 1 when running but not, 3 when not running (as `omd status`)."""
    args = [sys.executable, "-m", "omd"] + (["--root", root] if root else []) + ["status"] + (["--json"] if as_json else [])
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
    if "_OM_COMPLETE" in os.environ:
        from .events import _install_bash_completion

        _install_bash_completion()
    try:
        om(prog_name="om")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
