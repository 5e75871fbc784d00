"""[bus] tcp_listen with CURVE: the documented CURVE subscriber gets events; a client without
CURVE or with a key not listed gets nothing; a non-loopback endpoint without keys is refused."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq
import zmq.auth

from omd import config
from omd.errors import ConfigError
from tests.helpers import REPO, free_port


def _keys(d: Path) -> dict[str, tuple[str, str]]:
    d.mkdir()
    out = {}
    for name in ("server", "client", "intruder"):
        public_file, secret_file = zmq.auth.create_certificates(str(d), name)
        out[name] = (public_file, secret_file)
    return out


def _public(path: str) -> str:
    return zmq.auth.load_certificate(path)[0].decode()


def _bus_config(endpoint: str, keys: dict[str, tuple[str, str]] | None) -> str:
    text = f'[bus]\ntcp_listen = "{endpoint}"\n'
    if keys:
        text += (f'curve_secret_key_file = "{keys["server"][1]}"\n'
                 f'curve_client_keys = ["{_public(keys["client"][0])}"]\n')
    return text


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:1216", "tcp://*:1216", "tcp://192.0.2.1:1216",
                                      "tcp://[::]:1216"])
def test_non_loopback_tcp_listen_without_curve_is_refused(endpoint):
    with pytest.raises(ConfigError, match="bus.tcp_listen.*not a loopback address.*curve_secret_key_file"):
        config.parse(_bus_config(endpoint, None))


def test_loopback_without_curve_and_any_address_with_curve_are_accepted(tmp_path):
    config.parse(_bus_config("tcp://127.0.0.1:1216", None))
    keys = _keys(tmp_path / "keys")
    assert config.parse(_bus_config("tcp://0.0.0.0:1216", keys)).bus.curve_client_keys
    with pytest.raises(ConfigError, match="curve_client_keys\\[0\\]"):
        config.parse(f'[bus]\ncurve_secret_key_file = "{keys["server"][1]}"\ncurve_client_keys = ["short"]\n')
    with pytest.raises(ConfigError, match="holds no secret key"):
        config.parse(f'[bus]\ncurve_secret_key_file = "{keys["server"][0]}"\n'
                     f'curve_client_keys = ["{_public(keys["client"][0])}"]\n')


def test_check_config_exits_2_for_an_open_bus(tmp_path):
    etc = tmp_path / "etc" / "omd"
    etc.mkdir(parents=True)
    (etc / "omd.toml").write_text(_bus_config("tcp://0.0.0.0:1216", None))
    out = subprocess.run([sys.executable, "-m", "omd", "--root", str(tmp_path), "--check-config"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "bus.tcp_listen" in out.stderr and "Traceback" not in out.stderr


def _receives(sock: zmq.Socket, seconds: float) -> bool:
    return bool(sock.poll(int(seconds * 1000)))


def test_curve_subscriber_gets_events_others_get_nothing(daemon_factory, tmp_path):
    keys = _keys(tmp_path / "keys")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    daemon_factory(_bus_config(endpoint, keys))
    proc = subprocess.Popen([sys.executable, str(REPO / "docs" / "examples" / "curve_subscriber.py"), endpoint,
                             keys["server"][0], keys["client"][1], "WatchDog"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the CURVE subscriber printed nothing in 30 s"
        assert '"kind": "WatchDog"' in proc.stdout.readline()

        plain = ctx.socket(zmq.SUB)
        plain.setsockopt(zmq.SUBSCRIBE, b"")
        plain.connect(endpoint)
        intruder = ctx.socket(zmq.SUB)
        public, secret = zmq.auth.load_certificate(keys["intruder"][1])
        intruder.setsockopt(zmq.CURVE_SERVERKEY, _public(keys["server"][0]).encode())
        intruder.setsockopt(zmq.CURVE_PUBLICKEY, public)
        intruder.setsockopt(zmq.CURVE_SECRETKEY, secret)
        intruder.setsockopt(zmq.SUBSCRIBE, b"")
        intruder.connect(endpoint)
        # WatchDog events flow every 0.5 s meanwhile (the listed client keeps getting them).
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert not _receives(plain, 0.2), "a client without CURVE received an event"
            assert not _receives(intruder, 0.2), "a client with an unlisted key received an event"
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready and proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
        ctx.destroy(linger=0)
