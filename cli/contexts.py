"""Connection contexts of `ox`: named remote servers in the user's config file.

`$XDG_CONFIG_HOME/omd/contexts.toml` (default `~/.config/omd/contexts.toml`)::

    [contexts.prod]
    server = "https://n1.example.com:1215"
    token = "..."            # bearer token (or token_file = "/path")
    ca = "/etc/omd/ca.pem"   # CA bundle to verify the server (default: system CAs)

`ox --context prod ...` or `$OMD_CONTEXT` selects one.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import click

from .client import Endpoint


def contexts_file() -> Path:
    """Where contexts are read from."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "omd" / "contexts.toml"


def load_context(name: str | None) -> Endpoint:
    """The Endpoint of context `name`; a clear usage error when it cannot be used."""
    if not name:
        raise click.BadParameter("--context must be specified (or $OMD_CONTEXT); contexts live in "
                               f"{contexts_file()}", param_hint="--context")
    path = contexts_file()
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise click.UsageError(f"no contexts file {path}: create it with a [contexts.{name}] table") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.UsageError(f"{path}: {exc}") from None
    ctx = (doc.get("contexts") or {}).get(name)
    if not isinstance(ctx, dict):
        known = ", ".join(sorted(doc.get("contexts") or {})) or "none"
        raise click.BadParameter(f"unknown context {name!r} in {path} (known: {known})", param_hint="--context")
    server = ctx.get("server", "")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise click.UsageError(f"{path}: contexts.{name}.server must be an http(s):// URL")
    token = ctx.get("token", "")
    if ctx.get("token_file"):
        try:
            token = Path(ctx["token_file"]).read_text().strip()
        except OSError as exc:
            raise click.UsageError(f"{path}: contexts.{name}.token_file: {exc}") from None
    ca, insecure = ctx.get("ca", ""), bool(ctx.get("insecure", False))
    if not isinstance(ca, str):
        raise click.UsageError(f"{path}: contexts.{name}.ca must be a file path")
    ssl_context = None
    if server.startswith("https://"):
        import ssl

        try:
            ssl_context = Endpoint.tls_context(ca, insecure)
        except ssl.SSLError as exc:
            raise click.UsageError(f"{path}: contexts.{name}.ca: {ca}: not a PEM CA bundle ({exc.reason or exc})") from None
        except OSError as exc:
            raise click.UsageError(f"{path}: contexts.{name}.ca: {ca}: {exc.strerror or exc}") from None
    return Endpoint(url=server.rstrip("/"), token=token, ca=ca, insecure=insecure, ssl_context=ssl_context)
