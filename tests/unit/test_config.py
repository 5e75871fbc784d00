"""Config decoding: defaults, the documented file, and errors that name the key."""

from __future__ import annotations

import grp
import os
import shutil
import socket
import subprocess
from pathlib import Path

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
    import msgspec

    def check(name: str, value: msgspec.Struct) -> None:
        assert f"[{name}]" in text, f"[{name}] undocumented"
        for key in value.__struct_fields__:
            sub = getattr(value, key)
            if isinstance(sub, msgspec.Struct):  # a nested table: [section.key]
                check(f"{name}.{key}", sub)
            else:
                assert f"\n{key} = " in text, f"{name}.{key} undocumented"

    for section in config.Config.__struct_fields__:
        check(section, getattr(config.Config(), section))


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


# ------------------------------------------------------------------ files the config names

def _self_signed(directory, name: str, passphrase: str = "") -> tuple[str, str]:
    """A fresh self-signed certificate and key (EC, fast to generate) under `directory`."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    cmd += ["-passout", f"pass:{passphrase}"] if passphrase else ["-nodes"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """Two unrelated certificate/key pairs and an encrypted key, made once for the module."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to generate test certificates")
    d = tmp_path_factory.mktemp("tls")
    a_cert, a_key = _self_signed(d, "a")
    b_cert, b_key = _self_signed(d, "b")
    _, enc_key = _self_signed(d, "enc", passphrase="s3cret-pass")
    return {"dir": d, "cert": a_cert, "key": a_key, "other_cert": b_cert, "other_key": b_key,
            "enc_key": enc_key}


def _tls(cert: str, key: str) -> str:
    return f'[gateway]\ntcp_listen = "127.0.0.1:1215"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'


def test_matching_tls_pair_is_accepted(tls_files):
    """A readable certificate with its own unencrypted key passes validation."""
    cfg = config.parse(_tls(tls_files["cert"], tls_files["key"]))
    assert cfg.gateway.tls_cert == tls_files["cert"]


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("{d}/missing.crt", "{key}", "gateway.tls_cert: {d}/missing.crt: no such file"),
        ("{cert}", "{d}/missing.key", "gateway.tls_key: {d}/missing.key: no such file"),
        ("{d}", "{key}", "gateway.tls_cert: {d}: not a regular file"),
        ("a.crt", "{key}", "gateway.tls_cert: 'a.crt' is not an absolute path"),
        ("{cert}", "a.key", "gateway.tls_key: 'a.key' is not an absolute path"),
        ("{key}", "{key}", "gateway.tls_cert: {key}: no PEM certificate in the file"),
        ("{d}/empty", "{key}", "gateway.tls_cert: {d}/empty: no PEM certificate in the file"),
        ("{cert}", "{cert}", "gateway.tls_key: {cert}: not a PEM private key"),
        ("{cert}", "{other_key}", "gateway.tls_key: {other_key}: does not match the certificate"),
        ("{other_cert}", "{key}", "gateway.tls_key: {key}: does not match the certificate"),
        ("{cert}", "{enc_key}", "gateway.tls_key: {enc_key}: the private key is encrypted"),
    ],
    ids=["cert-missing", "key-missing", "cert-directory", "cert-relative", "key-relative",
         "cert-is-a-key", "cert-empty", "key-is-a-cert", "key-of-another-cert", "cert-of-another-key",
         "key-encrypted"],
)
def test_unusable_tls_files_are_refused_naming_the_key(tls_files, cert, key, message):
    """Each TLS file the gateway could not load is a ConfigError naming the key and the reason."""
    (tls_files["dir"] / "empty").write_text("")
    values = {k: v for k, v in tls_files.items() if k != "dir"} | {"d": str(tls_files["dir"])}
    with pytest.raises(ConfigError) as info:
        config.parse(_tls(cert.format(**values), key.format(**values)), source="omd.toml")
    assert message.format(**values) in str(info.value)
    assert info.value.exit_code == 2


def test_fifo_as_tls_cert_is_refused_without_blocking(tls_files, tmp_path):
    """A FIFO named as a certificate is refused at once (opening it would block the load)."""
    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="gateway.tls_cert: .*not a regular file"):
        config.parse(_tls(str(fifo), tls_files["key"]))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_tls_key_is_refused(tls_files, tmp_path):
    """A key file the daemon's user cannot read is refused with the OS's reason."""
    key = tmp_path / "k.pem"
    key.write_bytes(Path(tls_files["key"]).read_bytes())
    key.chmod(0)
    with pytest.raises(ConfigError, match="gateway.tls_key: .*cannot read: Permission denied"):
        config.parse(_tls(tls_files["cert"], str(key)))


def test_unknown_socket_group_is_refused():
    """A `[bus] socket_group` that names no group is refused at load (the bus would crash-loop)."""
    with pytest.raises(ConfigError, match="bus.socket_group: no group named 'no-such-group-omd'"):
        config.parse("[bus]\nsocket_group = 'no-such-group-omd'\n")
    name = grp.getgrgid(os.getgid()).gr_name
    assert config.parse(f"[bus]\nsocket_group = '{name}'\n").bus.socket_group == name


def test_load_refuses_a_config_whose_cert_is_gone(tls_files, tmp_path):
    """`load` (startup and SIGHUP reload) refuses a file whose certificate was removed since."""
    cert = tmp_path / "c.pem"
    cert.write_bytes(Path(tls_files["cert"]).read_bytes())
    paths = Paths.resolve(tmp_path)
    paths.config_file.parent.mkdir(parents=True)
    paths.config_file.write_text(_tls(str(cert), tls_files["key"]))
    assert config.load(paths).gateway.tls_cert == str(cert)
    cert.unlink()
    with pytest.raises(ConfigError, match=f"{paths.config_file}: gateway.tls_cert: {cert}: no such file"):
        config.load(paths)


@pytest.mark.parametrize("name", ["bad name!", "-n1", "n1-", "n_1", "a" * 64, "n1.example.com"])
def test_a_node_name_that_is_not_a_dns_label_is_refused(name):
    with pytest.raises(ConfigError, match="node.name: .* is not a node name: 1 to 63 letters"):
        config.parse(f'[node]\nname = "{name}"\n', "omd.toml")


@pytest.mark.parametrize("name", ["n1", "node-2", "N3", "a" * 63])
def test_dns_label_node_names_are_accepted(name):
    assert config.parse(f'[node]\nname = "{name}"\n', "omd.toml").nodename == name
