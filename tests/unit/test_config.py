"""Config decoding: defaults, the documented file, and errors that name the key."""

from __future__ import annotations

import socket

import pytest

from omd import config
from omd.errors import ConfigError
from omd.paths import Paths
from tests.helpers import REPO


def test_documented_file_equals_embedded_defaults():
    """conf/omd.toml documents exactly the embedded defaults (the two never drift apart)."""
    documented = config.parse((REPO / "conf" / "omd.toml").read_text(), "conf/omd.toml")
    assert documented == config.parse("")


def test_documented_file_names_every_key():
    """Every key of every section appears in conf/omd.toml."""
    text = (REPO / "conf" / "omd.toml").read_text()
    for section in config.Config.__struct_fields__:
        assert f"[{section}]" in text
        for key in getattr(config.Config(), section).__struct_fields__:
            assert f"\n{key} = " in text, f"{section}.{key} undocumented"


def test_missing_file_gives_defaults(tmp_path):
    """With no config file the daemon runs on embedded defaults; node name is the hostname."""
    cfg = config.load(Paths.resolve(tmp_path))
    assert cfg.nodename == socket.gethostname().split(".")[0]
    assert cfg.daemon.watchdog_interval == 5.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[node]\nnmae = 'x'\n", "node.nmae: unknown key"),
        ("top = 1\n", "top: unknown key"),
        ("[node]\nlabels = {a = 1}\n", "node.labels[...]: Expected `str`, got `int`"),
        ("[daemon]\nsubsystems = ['nope']\n", "daemon.subsystems: unknown subsystem 'nope'"),
        ("[daemon]\nsubsystems = ['bus']\n", "daemon.subsystems: unknown subsystem 'bus'"),
        ("[daemon]\nstop_grace = 0\n", "daemon.stop_grace: must be > 0"),
        ("[bus]\ntcp_listen = '127.0.0.1:9'\n", "bus.tcp_listen: '127.0.0.1:9' is not a tcp:// endpoint"),
        ("[log]\nformat = 'xml'\n", "log.format: 'xml' is not one of"),
        ("x = \n", "invalid TOML"),
    ],
)
def test_errors_name_source_and_key(text, message):
    """Each wrong key or value raises ConfigError with the file and the dotted key."""
    with pytest.raises(ConfigError) as info:
        config.parse(text, source="/etc/omd/omd.toml")
    assert str(info.value).startswith("/etc/omd/omd.toml: ")
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_secret_is_generated_once_with_mode_0600(tmp_path):
    """The cluster secret is created on first use, private, and stable afterwards."""
    paths = Paths.resolve(tmp_path)
    first = config.ensure_secret(paths)
    assert len(first) == 32 and int(first, 16) >= 0
    assert paths.secret_file.stat().st_mode & 0o777 == 0o600
    assert config.ensure_secret(paths) == first


def test_default_root_per_user_when_not_root(monkeypatch, tmp_path):
    """A non-root user with nothing set gets ~/.local/state/omd (or $XDG_STATE_HOME/omd)."""
    from omd import paths as pathsmod

    monkeypatch.delenv("OMD_ROOT", raising=False)
    monkeypatch.setattr(pathsmod.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert pathsmod.default_root() == tmp_path / "omd"
    monkeypatch.setattr(pathsmod.os, "geteuid", lambda: 0)
    assert str(pathsmod.default_root()) == "/"
    monkeypatch.setenv("OMD_ROOT", "/srv/omd")
    assert str(pathsmod.default_root()) == "/srv/omd"


def test_overlong_socket_path_is_a_clear_error():
    """A root whose socket paths exceed the unix limit is refused with a message."""
    paths = Paths.resolve("/tmp/" + "x" * 100)
    with pytest.raises(ConfigError, match="over the 107-byte limit"):
        paths.endpoint(paths.bus_out)
