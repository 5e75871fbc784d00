"""`ox`: the same event commands against a remote cluster, over TCP/TLS with a bearer token.

    ox --context NAME node events ...    (contexts: see omd_cli.contexts)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .events import FILTER_HELP, EventsCommand, build_options, events_options, run_events
from .om import CONTEXT_SETTINGS, AliasGroup


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("--context", envvar="OMD_CONTEXT", metavar="NAME",
              help="Connection context from ~/.config/omd/contexts.toml. Also $OMD_CONTEXT.")
@click.version_option(package_name="omd", prog_name="ox")
@click.pass_context
def ox(ctx: click.Context, context: str | None) -> None:
    """Watch a remote omd cluster's events (operators not on a node)."""
    ctx.obj = context


@ox.group(cls=AliasGroup, context_settings=CONTEXT_SETTINGS)
def node() -> None:
    """A remote node."""


@ox.group(cls=AliasGroup, context_settings=CONTEXT_SETTINGS)
def daemon() -> None:
    """A remote node's daemon."""


def _events_command(group: click.Group) -> None:
    @group.command("events", cls=EventsCommand, epilog=FILTER_HELP, context_settings=CONTEXT_SETTINGS)
    @events_options
    @click.pass_context
    def events(ctx: click.Context, **kw: Any) -> None:
        """Print the remote node event stream (filter, format, or wait on a condition)."""
        from .contexts import load_context

        opts = build_options(**kw)
        name = ctx.find_root().obj
        endpoint = load_context(name) if opts.input is None else None
        run_events(opts, (lambda: endpoint) if endpoint else None, None)


_events_command(node)
_events_command(daemon)


def main() -> None:
    """Console-script entry point."""
    if "_OX_COMPLETE" in os.environ:
        from .events import _install_bash_completion

        _install_bash_completion()
    try:
        ox(prog_name="ox")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
