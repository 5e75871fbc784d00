"""Who may write the files the daemon trusts: sshd-like StrictModes checks.

The daemon runs what its configuration says (scheduler jobs, as its own user, often root), so
a configuration file that another user can write is a way to run commands as that user. Like
sshd's StrictModes, `check_config` refuses (a `ConfigError` naming the file, its mode and its
owner) when one of these can be changed by a user other than root or the daemon's own uid:

- the configuration file `etc/omd/omd.toml`, and every directory from it up to `/`;
- each scheduler job's executable (`command[0]`, looked up in `PATH` as the scheduler does),
  its directories up to `/`, and the file a symlink leads to with its directories.

"Can be changed" means: owned by another uid, or writable by group or others. One exception,
as for sshd's `/tmp` handling of socket paths: a directory writable by everyone *with the
sticky bit* (`/tmp`) is accepted, since nobody but an entry's owner can rename or remove it.

Files that hold secrets are reported when others can read them, as warnings (returned to the
caller, which logs or prints them; the daemon still starts): the configuration file when it
holds `[gateway] tokens`, `[gateway] tls_key` and `[bus] curve_secret_key_file`. The cluster
secret the daemon generates is created 0600 (`omd.config.ensure_secret`), and an existing one
that group or others can read is refused there.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config


def trusted_uids() -> set[int]:
    """Owners a trusted file may have: root and the daemon's own effective uid."""
    return {0, os.geteuid()}


def _owner(st: os.stat_result) -> str:
    try:
        import pwd

        return pwd.getpwuid(st.st_uid).pw_name
    except (KeyError, ImportError):
        return str(st.st_uid)


def _describe(path: str, st: os.stat_result) -> str:
    return f"{path} (mode {stat.S_IMODE(st.st_mode):04o}, owner {_owner(st)})"


def unsafe_reason(path: str, st: os.stat_result) -> str | None:
    """Why another user could change `path` (stat'ed as `st`, not followed), or None."""
    if st.st_uid not in trusted_uids():
        return f"{_describe(path, st)} is owned by another user than root or the daemon's"
    mode = st.st_mode
    if stat.S_ISDIR(mode) and mode & stat.S_IWOTH and mode & stat.S_ISVTX:
        # World-writable with the sticky bit (/tmp): entries can only be replaced by their owner.
        return None
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group and others" if mode & stat.S_IWGRP and mode & stat.S_IWOTH else (
            "its group" if mode & stat.S_IWGRP else "others")
        return f"{_describe(path, st)} is writable by {who}"
    return None


def check_path(path: str | os.PathLike[str], what: str) -> None:
    """Refuse `path` (absolute) when it or a directory above it is unsafe; follows symlinks.

    A symlink is judged where it lies (its directories) and then where it leads.
    """
    seen: set[str] = set()
    todo = [os.path.abspath(path)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        node = current
        while True:
            try:
                st = os.lstat(node)
            except FileNotFoundError:
                break  # missing: whoever uses it reports that
            except OSError as exc:
                raise ConfigError(f"{what}: cannot check {node}: {exc.strerror or exc}") from None
            if stat.S_ISLNK(st.st_mode):
                # The link itself cannot be changed but by its directory's writers (checked next).
                target = os.path.join(os.path.dirname(node), os.readlink(node))
                todo.append(os.path.normpath(target))
            else:
                reason = unsafe_reason(node, st)
                if reason:
                    raise ConfigError(f"{what}: refused: {reason}; fix with chmod go-w or chown "
                                      "(the daemon trusts no file another user can change)")
            parent = os.path.dirname(node)
            if parent == node:
                break
            node = parent


def job_executable(command0: str) -> str | None:
    """The file a job's `command[0]` runs, as the scheduler's exec resolves it (None: not found)."""
    if os.sep in command0:
        return os.path.abspath(command0)
    return shutil.which(command0)


def check_config(config: "Config", config_file: Path, exists: bool) -> list[str]:
    """Refuse unsafe trusted files (ConfigError); return warnings about readable secrets."""
    warnings: list[str] = []
    if exists:
        check_path(config_file, str(config_file))
    for i, job in enumerate(config.scheduler.jobs):
        exe = job_executable(job.command[0])
        if exe is not None:
            check_path(exe, f"{config_file}: scheduler.jobs[{i}] ({job.name}): command {exe}")
    if exists and config.gateway.tokens:
        _warn_readable(warnings, str(config_file), "holds [gateway] tokens")
    for key, value in (("gateway.tls_key", config.gateway.tls_key),
                       ("bus.curve_secret_key_file", config.bus.curve_secret_key_file)):
        if value:
            _warn_readable(warnings, value, f"is {key}")
    return warnings


def _warn_readable(warnings: list[str], path: str, why: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    if st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{_describe(path, st)} {why} and is readable by group or others: chmod 0600 it")


def check_secret_file(path: Path) -> None:
    """Refuse a secret file that another user can read or change (mode and owner)."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_uid not in trusted_uids() or st.st_mode & 0o077:
        raise ConfigError(f"{_describe(str(path), st)}: a secret must be a regular file of the daemon's "
                          "user with mode 0600 (chmod 0600 it)")
